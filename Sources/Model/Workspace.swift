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
        let size = LayerWorkspaceSize(cell: type, steps: T, rows: B, hidden: H, dropout: dropout)
        func buffer(_ count: Int) -> FlatBuffer<S>? { count > 0 ? FlatBuffer(count: count) : nil }
        (cell, steps, rows, hidden) = (type, T, B, H)
        states = FlatBuffer(count: size.states)
        cells = buffer(size.cells)
        gates = buffer(size.gates)
        recurrent = buffer(size.recurrent)
        hiddenGrads = FlatBuffer(count: size.hiddenGrads)
        carryGrad = FlatBuffer(count: size.carryGrad)
        cellCarryGrad = buffer(size.cellCarryGrad)
        dropped = buffer(size.dropped)
        dropoutMask = buffer(size.dropoutMask)
        backwardScratch = FlatBuffer(count: size.backwardScratch)
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
        let size = LayerWorkspaceSize(cell: cell, steps: steps, rows: rows, hidden: hidden, dropout: false)
        let buffers = (gates: FlatBuffer<S>(count: size.truncatedGates),
                       recurrent: size.truncatedRecurrent > 0 ? FlatBuffer<S>(count: size.truncatedRecurrent) : nil)
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
                           dropout: WorkspaceSize<Int>.dropsOut(shape: shape, layer: l), packing: packing)
        }
        let size = WorkspaceSize(shape: shape, steps: steps, rows: rows)
        logits = FlatBuffer(count: size.logits)
        rowLoss = FlatBuffer(count: size.rowLoss)
    }

    /// The top layer's hidden states (T+1, B, H), which the output layer reads.
    public var top: LayerWorkspace<S> { layers[layers.count - 1] }
}

/// A number that workspace sizes are counted in: Int to allocate by, Double to estimate with
/// (where no size a config can name overflows).
public protocol SizeCount: Numeric {
    init(_ value: Int)
}

extension Int: SizeCount {}
extension Double: SizeCount {}

/// How many scalars each buffer of a layer's workspace holds (0: not allocated): the one
/// account that `LayerWorkspace` allocates by and that a run's memory estimate adds up before
/// anything is allocated. T steps, B rows, H hidden, G gate width.
public struct LayerWorkspaceSize<N: SizeCount> {
    public let states, cells, gates, recurrent, hiddenGrads, carryGrad, cellCarryGrad: N
    public let dropped, dropoutMask, backwardScratch: N
    /// Truncated BPTT's gradient buffers (`LayerWorkspace.gradientBuffers`), made on first use.
    public let truncatedGates, truncatedRecurrent: N

    public init(cell: CellType, steps T: N, rows B: N, hidden H: N, dropout: Bool) {
        let G = N(cell.gates) * H
        func when(_ condition: Bool, _ count: N) -> N { condition ? count : 0 }
        states = (T + 1) * B * H
        cells = when(cell.hasCellState, (T + 1) * B * H)
        gates = when(cell.keepsGates, T * B * G)
        recurrent = when(cell.keepsRecurrentProduct, T * B * G)
        hiddenGrads = T * B * H
        carryGrad = B * H
        cellCarryGrad = when(cell.hasCellState, B * H)
        dropped = when(dropout, T * B * H)
        dropoutMask = when(dropout, T * B * H)
        backwardScratch = B * (2 * G + 3 * H)
        truncatedGates = T * B * G
        truncatedRecurrent = when(cell.keepsRecurrentProduct, T * B * G)
    }

    /// The scalars allocated with the workspace (without truncated BPTT's buffers).
    public var allocated: N {
        states + cells + gates + recurrent + hiddenGrads + carryGrad + cellCarryGrad + dropped + dropoutMask + backwardScratch
    }
}

/// The same account for a whole chunk's activations (`Workspace`): its layers' (every layer
/// below the top alike), the logits (scalars) and the loss of each position (Doubles).
public struct WorkspaceSize<N: SizeCount> {
    /// Each of the L − 1 layers below the top, and the top one.
    public let lowerLayer, topLayer: LayerWorkspaceSize<N>
    public let lowerLayers: N
    public let logits, rowLoss: N

    public init(shape: ModelShape, steps T: N, rows B: N) {
        let (H, V) = (N(shape.hidden), N(shape.vocabulary))
        func layer(_ l: Int) -> LayerWorkspaceSize<N> {
            LayerWorkspaceSize(cell: shape.cell, steps: T, rows: B, hidden: H, dropout: Self.dropsOut(shape: shape, layer: l))
        }
        (lowerLayer, topLayer, lowerLayers) = (layer(0), layer(shape.layers - 1), N(shape.layers - 1))
        logits = T * B * V
        rowLoss = T * B
    }

    /// The scalars of every layer's buffers and the logits, allocated with the workspace.
    public var scalars: N { lowerLayers * lowerLayer.allocated + topLayer.allocated + logits }

    /// Whether layer l keeps a dropout mask and its dropped output: every layer below the top
    /// of a model with dropout.
    public static func dropsOut(shape: ModelShape, layer l: Int) -> Bool { shape.dropout > 0 && l < shape.layers - 1 }
}
