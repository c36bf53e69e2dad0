import Kernels

/// The shape of a model: what a checkpoint must match to be loaded into it.
public struct ModelShape: Sendable, Equatable {
    public var vocabulary: Int     // V
    public var hidden: Int         // H
    public var activation: Activation

    public init(vocabulary: Int, hidden: Int, activation: Activation) {
        self.vocabulary = vocabulary
        self.hidden = hidden
        self.activation = activation
    }
}

/// What one forward pass over a batch measured: the summed loss (nats) and how many targets it
/// was summed over.
public struct LossSum: Sendable, Equatable {
    public var nats: Double
    public var tokens: Int
    public init(nats: Double, tokens: Int) { self.nats = nats; self.tokens = tokens }
}

/// A character-level recurrent language model: embedding + vanilla recurrent layer + output
/// layer, its parameters in one flat buffer described by `layout` (tensors We, Wh, b1, U, b2).
public struct LanguageModel<S: KernelScalar>: Sendable {
    public let shape: ModelShape
    public let layout: ParameterLayout
    public let recurrent: RecurrentLayer<S>
    public let output: OutputLayer<S>

    public init(shape: ModelShape) {
        self.shape = shape
        var layout = ParameterLayout()
        recurrent = RecurrentLayer(vocabulary: shape.vocabulary, hidden: shape.hidden,
                                   activation: shape.activation, layout: &layout)
        output = OutputLayer(vocabulary: shape.vocabulary, hidden: shape.hidden, layout: &layout)
        self.layout = layout
    }

    /// Deterministic initialisation from `seed` (SPEC §1): We ~ N(0, 1), as seed 000 and
    /// nn.Embedding do; Wh and U uniform in ±1/√H (fan-in H); biases 0.
    public func initialize(_ parameters: FlatBuffer<S>, seed: UInt64) {
        var random = RandomSource(seed: seed)
        parameters.zero()
        let limit = 1 / Double(shape.hidden).squareRoot()
        for tensor in [recurrent.embedding, recurrent.recurrent, output.weight] {
            let values = parameters.view(tensor)
            for i in 0..<tensor.count {
                values[i] = tensor == recurrent.embedding
                    ? S(random.nextNormal())
                    : S((2 * random.nextUnit() - 1) * limit)
            }
        }
    }

    public func makeWorkspace(steps: Int, rows: Int) -> Workspace<S> {
        Workspace(steps: steps, rows: rows, hidden: shape.hidden, vocabulary: shape.vocabulary)
    }

    /// One chunk: forward from `state` (B, H), the summed loss, and — when `gradients` is given —
    /// the backward pass, whose parameter gradients are *added* to `gradients`. `state` is
    /// replaced by h_T, the state to carry into the next chunk.
    @inlinable
    public func run(_ batch: TokenBatch, parameters: FlatBuffer<S>, state: FlatBuffer<S>,
                    gradients: FlatBuffer<S>?, work: Workspace<S>, threads: Int) -> LossSum {
        precondition(parameters.count == layout.count, "parameter buffer does not match the layout")
        precondition(work.steps == batch.steps && work.rows == batch.rows, "workspace shape differs from batch")
        precondition(state.count == batch.rows * shape.hidden, "state is not (B, H)")
        let stateCount = batch.rows * shape.hidden
        work.states.base.update(from: state.base, count: stateCount)
        recurrent.forward(batch, parameters: parameters, work: work, threads: threads)
        let nats = output.forward(batch, parameters: parameters, work: work,
                                  gradient: gradients != nil, threads: threads)
        if let gradients {
            output.backward(batch, parameters: parameters, gradients: gradients, work: work, threads: threads)
            recurrent.backward(batch, parameters: parameters, gradients: gradients, work: work, threads: threads)
        }
        state.base.update(from: work.states.base + batch.steps * stateCount, count: stateCount)
        return LossSum(nats: nats, tokens: batch.scoredCount)
    }
}
