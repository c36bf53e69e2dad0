import Distributed
import Kernels
import Model

/// The mean loss of a model over a validation split, all ranks together: each rank runs its
/// own streams chunk by chunk with the state carried (no gradients, no dropout), and one
/// allreduce sums the losses. Used by training after every `log.val_every` steps and by
/// `rnn-dist eval`; needs no trainer.
public struct Evaluator {
    public let model: LanguageModel<Float>
    let layout: StreamLayout
    let corpus: Corpus
    let communicator: Communicator
    let threads: Int
    let work: Workspace<Float>

    /// Whether validation needs a workspace of its own, beside training's: it runs all of a
    /// rank's rows at once, which one training workspace holds unless thread replicas or
    /// micro-batches split them. The trainer shares its workspace by this, and `MemoryEstimate`
    /// counts validation's by it.
    static func needsOwnWorkspace(replicated: Bool, accumulate: Int) -> Bool {
        replicated || accumulate > 1
    }

    /// nil when the data has no validation split of at least one batch. `work` may be a
    /// training workspace of the same shape, to share its memory.
    public init?(model: LanguageModel<Float>, data: TrainingData, communicator: Communicator, threads: Int,
                 work: Workspace<Float>? = nil) {
        guard let layout = data.validationLayout else { return nil }
        self.model = model
        self.layout = layout
        corpus = data.validation
        self.communicator = communicator
        self.threads = threads
        self.work = work ?? model.makeWorkspace(steps: layout.steps, rows: layout.rows.count)
        precondition(self.work.steps == layout.steps && self.work.rows == layout.rows.count, "workspace shape differs from the batch")
    }

    /// Nats per token over the whole split, the same on every rank. Every rank calls it together.
    public func loss(parameters: FlatBuffer<Float>) throws -> Double {
        var batch = layout.makeBatch(masked: corpus.scoredTargets != nil)
        let carried = FlatBuffer<Float>(count: layout.rows.count * model.shape.stateWidth)
        var nats = 0.0, tokens = 0.0
        for chunk in 0..<layout.stepsPerEpoch {
            layout.fill(&batch, step: chunk, from: corpus)
            let loss = model.run(batch, parameters: parameters, state: carried, gradients: nil, work: work, threads: threads)
            nats += loss.nats
            tokens += Double(loss.tokens)
        }
        var sums: [Float] = [Float(nats), Float(tokens)]
        try sums.withUnsafeMutableBufferPointer { try communicator.allreduceSum($0) }
        return Double(sums[0]) / Double(max(sums[1], 1))
    }
}
