import Kernels

/// The recurrent cells, all behind one interface: the layer computes the projections
/// P_t = x_t·Wxᵀ + b (all T steps at once) and R_t = h_{t−1}·Whᵀ (step by step); the cell turns
/// them into the new state and, backwards, into ∂loss/∂P_t and ∂loss/∂R_t. Gate order, for
/// every weight of width G = gates·H: rnn [z]; lstm [i, f, g, o]; gru [r, z, n] (PyTorch's).
///
/// - rnn:  h = f(P + R)                                  (f = tanh, sigmoid or relu)
/// - lstm: i, f, o = σ(P + R)_{i,f,o}, g = tanh(P + R)_g  (forget bias starts at 1)
///         c = f ⊙ c_{t−1} + i ⊙ g,  h = o ⊙ tanh(c)       (Gers et al. 2000)
/// - gru:  the variant of PyTorch's nn.GRU and cuDNN, with the reset gate applied *after* the
///         recurrent product, so that product stays one matrix multiply per step:
///         r = σ(P_r + R_r), z = σ(P_z + R_z), n = tanh(P_n + r ⊙ (R_n + b_hn)),
///         h = (1 − z) ⊙ n + z ⊙ h_{t−1}
public enum CellType: String, Sendable, CaseIterable {
    case rnn, lstm, gru

    /// G / H: how many H-wide gate blocks the projections have.
    public var gates: Int {
        switch self {
        case .rnn: return 1
        case .lstm: return 4
        case .gru: return 3
        }
    }

    /// Whether the backward pass reads a step's activated gates. A vanilla cell's derivative is
    /// written through its output h (`Activation`), so it keeps none: its projections are built
    /// in h_t's slot and activated in place (`LayerWorkspace.projections`).
    public var keepsGates: Bool { self != .rnn }

    /// Whether R_t must be kept apart from P_t (the GRU's reset gate multiplies R_n alone).
    public var keepsRecurrentProduct: Bool { self == .gru }

    /// Whether the carried state has a cell part c beside h.
    public var hasCellState: Bool { self == .lstm }
}

/// One step of a cell over `n` rows, forward and backward. Pointers address row-major
/// (n, G) or (n, H) blocks; the layer hands each thread its own rows.
public struct CellStep<S: KernelScalar>: Sendable {
    public let type: CellType
    public let activation: Activation
    public let H: Int

    /// Whether ∂loss/∂h_{t−1} has a part that bypasses Wh (the GRU's z ⊙ h_{t−1} term).
    public var hasDirectPath: Bool { type == .gru }

    public init(type: CellType, activation: Activation, hidden: Int) {
        self.type = type
        self.activation = activation
        H = hidden
    }

    /// Forward. On entry `gates` holds P_t (+ R_t for rnn/lstm), `recurrent` R_t (gru; with
    /// b_hn added to its n block). On exit `h` (and `c`) hold the new state and, for lstm and
    /// gru, `gates` the activated gates (the cache the backward pass reads; rnn reads h, and its
    /// `gates` may be `h` itself).
    @inlinable
    public func forward(n: Int, gates: UnsafeMutablePointer<S>, recurrent: UnsafeMutablePointer<S>?,
                        hPrevious: UnsafePointer<S>, cPrevious: UnsafePointer<S>?,
                        h: UnsafeMutablePointer<S>, c: UnsafeMutablePointer<S>?) {
        let G = type.gates * H
        switch type {
        case .rnn:
            activation.apply(UnsafePointer(gates), into: h, count: n * H)
        case .lstm:
            for r in 0..<n {
                let row = gates + r * G
                Activation.sigmoid.apply(row, count: 2 * H)              // i, f
                Activation.tanh.apply(row + 2 * H, count: H)             // g
                Activation.sigmoid.apply(row + 3 * H, count: H)          // o
                lstmForward(gates: row, cPrevious: cPrevious! + r * H, c: c! + r * H, h: h + r * H, hidden: H)
            }
        case .gru:
            for r in 0..<n {
                gruForward(gates: gates + r * G, recurrent: recurrent! + r * G, hPrevious: hPrevious + r * H, h: h + r * H,
                           hidden: H)
            }
        }
    }

    /// Backward of one step. Given `dh` = ∂loss/∂h_t and (lstm) `dc` = ∂loss/∂c_t from later
    /// steps, writes ∂loss/∂P_t into `dP`, ∂loss/∂R_t into `dR` (gru; for rnn/lstm dR = dP),
    /// the part of ∂loss/∂h_{t−1} that bypasses Wh into `dhDirect` (gru only: z ⊙ dh; the other
    /// cells have no such path, `hasDirectPath`, and take nil),
    /// and replaces `dc` by ∂loss/∂c_{t−1} (lstm). `dP` may be `gates` and `dR` `recurrent`
    /// (`LayerWorkspace.gradientBuffers`): each unit's gates are read before its gradients are
    /// written.
    @inlinable
    public func backward(n: Int, gates: UnsafePointer<S>, recurrent: UnsafePointer<S>?,
                         hPrevious: UnsafePointer<S>, h: UnsafePointer<S>, cPrevious: UnsafePointer<S>?, c: UnsafePointer<S>?,
                         dh: UnsafePointer<S>, dc: UnsafeMutablePointer<S>?,
                         dP: UnsafeMutablePointer<S>, dR: UnsafeMutablePointer<S>?,
                         dhDirect: UnsafeMutablePointer<S>?) {
        let G = type.gates * H
        switch type {
        case .rnn:
            // h = f(z): the derivative through the output (tanh' = 1 − h², …).
            activation.backward(output: h, gradient: dh, into: dP, count: n * H)
        case .lstm:
            for r in 0..<n {
                lstmBackward(gates: gates + r * G, cPrevious: cPrevious! + r * H, c: c! + r * H, dh: dh + r * H,
                             dc: dc! + r * H, dGates: dP + r * G, hidden: H)
            }
        case .gru:
            for r in 0..<n {
                gruBackward(gates: gates + r * G, recurrent: recurrent! + r * G, hPrevious: hPrevious + r * H, dh: dh + r * H,
                            dP: dP + r * G, dR: dR! + r * G, dhDirect: dhDirect! + r * H, hidden: H)
            }
        }
    }
}
