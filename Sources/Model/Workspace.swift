import Kernels

/// One layer's activations for a chunk, kept from the forward to the backward pass and reused
/// from step to step (no allocation in the step loop). T steps, B rows, H hidden, G gate width.
public final class LayerWorkspace<S: KernelScalar>: @unchecked Sendable {
    public let states: FlatBuffer<S>        // (T+1, B, H) states[0] = carried h, states[t+1] = h_t
    public let cells: FlatBuffer<S>?        // (T+1, B, H) lstm: the same for c
    public let gates: FlatBuffer<S>?        // (T, B, G) lstm, gru: projections, then the activated gates
    public let recurrent: FlatBuffer<S>?    // (T, B, G) gru: R_t = h_{t−1}·Whᵀ (+ b_hn)
    public let hiddenGrads: FlatBuffer<S>   // (T, B, H) ∂loss/∂h_t from above
    public let carryGrad: FlatBuffer<S>     // (B, H) ends as ∂loss/∂h_0
    public let cellCarryGrad: FlatBuffer<S>?  // (B, H) lstm: ends as ∂loss/∂c_0
    public let dropped: FlatBuffer<S>?      // (T, B, H) h_t ⊙ dropout mask: the next layer's input
    public let dropoutMask: FlatBuffer<S>?  // (T, B, H) 0 or 1/(1 − p)
    public let packedRecurrent = PackedMatrix<S>()  // Whᵀ forward, Wh backward
    public let backwardScratch: FlatBuffer<S>  // (B, 2G + 3H) per-row temporaries of BPTT
    /// The states packed once for all the blocks of dWh (`RecurrentLayer.backward`), shared by
    /// every layer (they run one at a time).
    public let packing: PackedMatrix<S>
    /// Truncated BPTT's gradient buffers (`gradientBuffers(singleSweep:)`), made on first use.
    private var truncatedGrads: (gates: FlatBuffer<S>, recurrent: FlatBuffer<S>?)?
    private let cell: CellType
    private let steps, rows, hidden: Int

    init(type: CellType, steps T: Int, rows B: Int, hidden H: Int, dropout: Bool, packing: PackedMatrix<S>) {
        let G = type.gates * H
        (cell, steps, rows, hidden) = (type, T, B, H)
        states = FlatBuffer(count: (T + 1) * B * H)
        cells = type.hasCellState ? FlatBuffer(count: (T + 1) * B * H) : nil
        gates = type.keepsGates ? FlatBuffer(count: T * B * G) : nil
        recurrent = type.keepsRecurrentProduct ? FlatBuffer(count: T * B * G) : nil
        hiddenGrads = FlatBuffer(count: T * B * H)
        carryGrad = FlatBuffer(count: B * H)
        cellCarryGrad = type.hasCellState ? FlatBuffer(count: B * H) : nil
        dropped = dropout ? FlatBuffer(count: T * B * H) : nil
        dropoutMask = dropout ? FlatBuffer(count: T * B * H) : nil
        backwardScratch = FlatBuffer(count: B * (2 * G + 3 * H))
        self.packing = packing
    }

    /// (T, B, G): where step t's projections P_t (+ R_t) are built, row t·B + b. A cell that keeps
    /// its gates builds them in `gates`; a vanilla cell (G = H) in h_t's own slot of `states`,
    /// which its activation then overwrites in place, so that the step writes one (B, H) block
    /// where it wrote two and the chunk holds T·B·G scalars fewer.
    public var projections: UnsafeMutablePointer<S> { gates?.base ?? states.base + rows * hidden }

    /// Where the backward pass writes ∂loss/∂P_t and (gru) ∂loss/∂R_t, (T, B, G) each; the other
    /// cells' ∂R_t is their ∂P_t. A single BPTT sweep writes them over what step t read last
    /// and no later step reads: a gated cell's activated gates (and the GRU's R_t), whose
    /// backward reads all of a unit's gates before it writes that unit's gradients
    /// (`GatedCells`), and a vanilla cell's ∂loss/∂h_t (G = H), which the step has added into
    /// its running gradient before. Truncated BPTT adds each origin's ∂P_s into a step whose
    /// gates and ∂loss/∂h_s later origins still read, so it has buffers apart, made here on
    /// first use by the one thread that runs this workspace's backward pass.
    public func gradientBuffers(singleSweep: Bool) -> (gates: FlatBuffer<S>, recurrent: FlatBuffer<S>?) {
        if singleSweep { return (gates ?? hiddenGrads, recurrent) }
        if let buffers = truncatedGrads { return buffers }
        let count = steps * rows * cell.gates * hidden
        let buffers = (gates: FlatBuffer<S>(count: count), recurrent: cell.keepsRecurrentProduct ? FlatBuffer<S>(count: count) : nil)
        truncatedGrads = buffers
        return buffers
    }
}

/// The activations of one chunk for the whole model.
public final class Workspace<S: KernelScalar>: @unchecked Sendable {
    public let steps: Int        // T
    public let rows: Int         // B
    public let hidden: Int       // H
    public let vocabulary: Int   // V
    public let layers: [LayerWorkspace<S>]
    public let logits: FlatBuffer<S>      // (T, B, V) logits, then ∂loss/∂logits
    public let rowLoss: FlatBuffer<Double> // (T·B) loss of each position, summed in a fixed order

    public init(shape: ModelShape, steps: Int, rows: Int) {
        self.steps = steps
        self.rows = rows
        hidden = shape.hidden
        vocabulary = shape.vocabulary
        let packing = PackedMatrix<S>()   // the layers share it
        layers = (0..<shape.layers).map { l in
            LayerWorkspace(type: shape.cell, steps: steps, rows: rows, hidden: shape.hidden,
                           dropout: shape.dropout > 0 && l < shape.layers - 1, packing: packing)
        }
        logits = FlatBuffer(count: steps * rows * shape.vocabulary)
        rowLoss = FlatBuffer(count: steps * rows)
    }

    /// The top layer's hidden states (T+1, B, H), which the output layer reads.
    public var top: LayerWorkspace<S> { layers[layers.count - 1] }
}
