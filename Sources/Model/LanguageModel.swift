import Kernels

/// The shape of a model: what a checkpoint must match to be loaded into it.
public struct ModelShape: Sendable, Equatable {
    public var vocabulary: Int     // V
    public var hidden: Int         // H
    public var activation: Activation   // the vanilla cell's f
    public var cell: CellType
    public var layers: Int         // L
    public var dropout: Double     // between layers, training only

    public init(vocabulary: Int, hidden: Int, activation: Activation = .tanh, cell: CellType = .rnn,
                layers: Int = 1, dropout: Double = 0) {
        self.vocabulary = vocabulary
        self.hidden = hidden
        self.activation = activation
        self.cell = cell
        self.layers = layers
        self.dropout = dropout
    }

    /// Scalars of carried state per row: h (and, for an LSTM, c) of every layer, in that order.
    public var stateWidth: Int { layers * (cell.hasCellState ? 2 : 1) * hidden }
}

/// What one forward pass over a batch measured: the summed loss (nats) and how many targets it
/// was summed over.
public struct LossSum: Sendable, Equatable {
    public var nats: Double
    public var tokens: Int
    public init(nats: Double, tokens: Int) { self.nats = nats; self.tokens = tokens }

    public static let zero = LossSum(nats: 0, tokens: 0)
    public static func + (a: LossSum, b: LossSum) -> LossSum { LossSum(nats: a.nats + b.nats, tokens: a.tokens + b.tokens) }
    public static func += (a: inout LossSum, b: LossSum) { a = a + b }
}

/// Where a training step's dropout masks come from. The mask of global row b at `step` depends
/// only on (seed, step, layer, b), so every rank count draws the same masks for the same rows.
public struct DropoutSeed: Sendable {
    public var seed: UInt64
    public var step: Int
    public var firstRow: Int    // the global index of this process's row 0
    public init(seed: UInt64, step: Int, firstRow: Int) { self.seed = seed; self.step = step; self.firstRow = firstRow }
}

/// A recurrent language model: L stacked recurrent layers (the first reads tokens through its
/// embedding) and an output layer, with all parameters in one flat buffer described by
/// `layout`. Optional inverted dropout between layers while training.
public struct LanguageModel<S: KernelScalar>: Sendable {
    public let shape: ModelShape
    public let layout: ParameterLayout
    public let layers: [RecurrentLayer<S>]
    public let output: OutputLayer<S>

    public init(shape: ModelShape) {
        precondition(shape.layers >= 1)
        self.shape = shape
        var layout = ParameterLayout()
        layers = (0..<shape.layers).map { l in
            RecurrentLayer(index: l, input: l == 0 ? .tokens(vocabulary: shape.vocabulary) : .dense(width: shape.hidden),
                           hidden: shape.hidden, cell: shape.cell, activation: shape.activation, layout: &layout)
        }
        output = OutputLayer(vocabulary: shape.vocabulary, hidden: shape.hidden, layout: &layout)
        self.layout = layout
    }

    /// Deterministic initialisation from `seed`: the embedding We ~ N(0, 1), as nn.Embedding
    /// does; every other matrix uniform in ±1/√fan-in; biases 0 but the LSTM
    /// forget gate's, 1.
    public func initialize(_ parameters: FlatBuffer<S>, seed: UInt64) {
        var random = RandomSource(seed: seed)
        parameters.zero()
        for tensor in layout.tensors where tensor.shape.count == 2 {
            let values = parameters.view(tensor)
            let isEmbedding = layers[0].inputWeight == tensor
            let limit = 1 / Double(tensor.shape[1]).squareRoot()
            for i in 0..<tensor.count {
                values[i] = isEmbedding ? S(random.nextNormal()) : S((2 * random.nextUnit() - 1) * limit)
            }
        }
        if shape.cell == .lstm {
            for layer in layers { (parameters.view(layer.bias) + shape.hidden).update(repeating: 1, count: shape.hidden) }
        }
    }

    /// The parameters' tensors grouped by the moment `run` finishes their gradients: the output
    /// layer's when it calls `outputGradientsReady`, the recurrent layers' by the time it returns
    /// (a `GradientListener` hears of them piece by piece before that). A
    /// trainer reduces each group across ranks as soon as it is final (PyTorch DDP's buckets,
    /// built from these specs rather than from the order the tensors were created in).
    public var gradientBuckets: [[TensorSpec]] {
        [output.tensors, layers.flatMap { $0.tensors }]   // a closure: the key path `\.tensors` was resolved at run time on every call
    }

    public func makeWorkspace(steps: Int, rows: Int) -> Workspace<S> {
        Workspace(shape: shape, steps: steps, rows: rows)
    }

    /// One chunk: forward from `state` (B, stateWidth), the summed loss, and — when `gradients`
    /// is given — the backward pass, whose parameter gradients are *added* to `gradients`.
    /// `state` is replaced by the state after the last step, to carry into the next chunk.
    /// `dropout` switches dropout on (training); `truncate` limits BPTT (`RecurrentLayer`).
    /// `outputGradientsReady` is called once the output layer's gradients (U, b2: the end of
    /// the layout) are final, before the recurrent layers' backward pass — a trainer starts
    /// their allreduce there, so it travels while BPTT runs. `listener` hears of the recurrent
    /// layers' gradients as they become final, and is polled while they compute (`GradientListener`).
    /// `weightGradientThreads` (default `threads`) splits the recurrent weight gradients' products,
    /// the pass's last work (`RecurrentLayer.backward`). Without `stateGradient` (training, which
    /// does not carry gradients across chunks), `initialStateGradient` is left undefined and its
    /// products are skipped.
    @inlinable
    public func run(_ batch: TokenBatch, parameters: FlatBuffer<S>, state: FlatBuffer<S>,
                    gradients: FlatBuffer<S>?, work: Workspace<S>, threads: Int, weightGradientThreads: Int? = nil,
                    dropout: DropoutSeed? = nil, truncate: Int? = nil, stateGradient: Bool = true,
                    outputGradientsReady: ((LossSum) -> Void)? = nil, listener: GradientListener? = nil) -> LossSum {
        precondition(parameters.count == layout.count, "parameter buffer does not match the layout")
        precondition(work.steps == batch.steps && work.rows == batch.rows, "workspace shape differs from batch")
        precondition(state.count == batch.rows * shape.stateWidth, "state is not (B, stateWidth)")
        let (T, B, H) = (batch.steps, batch.rows, shape.hidden)
        forwardLayers(batch, parameters: parameters, state: state, work: work, threads: threads, dropout: dropout)
        let nats = output.forward(batch, parameters: parameters, work: work, gradient: gradients != nil, threads: threads)
        if let gradients {
            output.backward(batch, parameters: parameters, gradients: gradients, work: work, threads: threads)
            outputGradientsReady?(LossSum(nats: nats, tokens: batch.scoredCount))
            for l in stride(from: layers.count - 1, through: 0, by: -1) {
                let below = l == 0 ? nil : UnsafePointer(input(of: l, work: work, rows: B))
                layers[l].backward(tokens: batch.inputs, below: below,
                                   belowGradient: l == 0 ? nil : work.layers[l - 1].hiddenGrads.base,
                                   steps: T, rows: B, parameters: parameters, gradients: gradients,
                                   work: work.layers[l], threads: threads, weightGradientThreads: weightGradientThreads,
                                   truncate: truncate, stateGradient: stateGradient, listener: listener)
                if l > 0, dropout != nil, let mask = work.layers[l - 1].dropoutMask {
                    let g = work.layers[l - 1].hiddenGrads.base
                    for i in 0..<(T * B * H) { g[i] *= mask.base[i] }
                }
            }
        }
        moveState(state, into: work, rows: B, atStep: T, load: false)
        return LossSum(nats: nats, tokens: batch.scoredCount)
    }

    /// Every layer's forward pass over the chunk from the carried `state` (which is not updated).
    @inlinable
    public func forwardLayers(_ batch: TokenBatch, parameters: FlatBuffer<S>, state: FlatBuffer<S>,
                              work: Workspace<S>, threads: Int, dropout: DropoutSeed?) {
        let (T, B, H) = (batch.steps, batch.rows, shape.hidden)
        moveState(state, into: work, rows: B, atStep: 0, load: true)
        for (l, layer) in layers.enumerated() {
            let below = l == 0 ? nil : UnsafePointer(input(of: l, work: work, rows: B))
            layer.forward(tokens: batch.inputs, below: below, steps: T, rows: B, parameters: parameters,
                          work: work.layers[l], threads: threads)
            if let mask = work.layers[l].dropoutMask, let dropped = work.layers[l].dropped {
                let h = work.layers[l].states.base + B * H
                if let dropout, shape.dropout > 0 {
                    fillDropoutMask(mask, layer: l, steps: T, rows: B, seed: dropout)
                    for i in 0..<(T * B * H) { dropped.base[i] = h[i] * mask.base[i] }
                } else {
                    dropped.base.update(from: h, count: T * B * H)
                }
            }
        }
    }

    /// Saves the state after the chunk's last step into `state` (B, stateWidth).
    @inlinable
    public func saveState(_ state: FlatBuffer<S>, from work: Workspace<S>) {
        moveState(state, into: work, rows: work.rows, atStep: work.steps, load: false)
    }

    /// Layer l's input: the hidden states of layer l − 1 (after dropout), (T·B, H).
    @inlinable
    func input(of l: Int, work: Workspace<S>, rows B: Int) -> UnsafeMutablePointer<S> {
        work.layers[l - 1].dropped?.base ?? (work.layers[l - 1].states.base + B * shape.hidden)
    }

    /// Copies the carried state (B, stateWidth) into every layer's step-0 slot (`load`), or
    /// the layers' step-`atStep` state out of them.
    @inlinable
    func moveState(_ state: FlatBuffer<S>, into work: Workspace<S>, rows B: Int, atStep t: Int, load: Bool) {
        let H = shape.hidden, W = shape.stateWidth, parts = shape.cell.hasCellState ? 2 : 1
        for (l, layerWork) in work.layers.enumerated() {
            for part in 0..<parts {
                let buffer = part == 0 ? layerWork.states : layerWork.cells!
                for b in 0..<B {
                    let carried = state.base + b * W + (l * parts + part) * H
                    let slot = buffer.base + (t * B + b) * H
                    if load { slot.update(from: carried, count: H) } else { carried.update(from: slot, count: H) }
                }
            }
        }
    }

    /// ∂loss/∂(carried state) after a backward pass with `stateGradient`, laid out like the state
    /// (B, stateWidth).
    public func initialStateGradient(_ work: Workspace<S>) -> [S] {
        let (B, H, W) = (work.rows, shape.hidden, shape.stateWidth)
        let parts = shape.cell.hasCellState ? 2 : 1
        var gradient = [S](repeating: 0, count: B * W)
        for (l, layerWork) in work.layers.enumerated() {
            for part in 0..<parts {
                let source = part == 0 ? layerWork.carryGrad : layerWork.cellCarryGrad!
                for b in 0..<B { for j in 0..<H { gradient[b * W + (l * parts + part) * H + j] = source[b * H + j] } }
            }
        }
        return gradient
    }

    /// Inverted dropout: each unit kept with probability 1 − p and scaled by 1/(1 − p).
    @inlinable
    func fillDropoutMask(_ mask: FlatBuffer<S>, layer: Int, steps T: Int, rows B: Int, seed: DropoutSeed) {
        let (H, p) = (shape.hidden, shape.dropout)
        let kept = S(1 / (1 - p))
        for b in 0..<B {
            var mix = RandomSource(seed: seed.seed ^ 0xD809_0D7A)
            for value in [UInt64(seed.step), UInt64(layer), UInt64(seed.firstRow + b)] {
                mix = RandomSource(seed: mix.next() ^ value)
            }
            for t in 0..<T {
                let row = mask.base + (t * B + b) * H
                for j in 0..<H { row[j] = mix.nextUnit() < p ? 0 : kept }
            }
        }
    }
}
