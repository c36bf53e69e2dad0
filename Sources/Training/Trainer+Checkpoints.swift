import Foundation
import Model

/// Checkpoints of a run (README, "Checkpoints, preemption, text"): what the loop hands its
/// checkpoint writer, and exact resume on every rank.
extension Trainer {
    /// The checkpoint of the current step. Every rank calls this together (the hidden state of
    /// the whole batch is assembled from every rank's rows); only rank 0's is written.
    func checkpointRequest(isBest: Bool) throws -> CheckpointRequest {
        let hidden = try globalHiddenState()
        return CheckpointRequest(checkpoint: makeCheckpoint(hiddenState: hidden), isBest: isBest)
    }

    /// The carried hidden state of the whole global batch (B, stateWidth): each rank fills its
    /// own rows of a zeroed buffer and one allreduce assembles it.
    func globalHiddenState() throws -> [Float] {
        let W = model.shape.stateWidth
        var all = [Float](repeating: 0, count: config.train.batchSize * W)
        for (i, value) in state.array.enumerated() { all[layout.rows.lowerBound * W + i] = value }
        try all.withUnsafeMutableBufferPointer { try communicator.allreduceSum($0) }
        return all
    }

    func makeCheckpoint(hiddenState: [Float]) -> Checkpoint {
        let position = Checkpoint.RunPosition(
            step: step, epoch: cursor.epoch, chunk: cursor.chunk, batchSize: config.train.batchSize,
            seqLength: config.train.seqLength, random: random.state, intervalNats: interval.nats,
            intervalTokens: interval.tokens, intervalSteps: interval.steps,
            lastValidationLoss: validations.last, bestValidationLoss: validations.best,
            validationsSinceBest: validations.sinceBest)
        let optimizerRecord = Checkpoint.OptimizerRecord(
            kind: config.train.optimizer.rawValue, steps: optimizer.steps, learningRate: learningRate.current,
            stateCount: optimizer.state.count)
        let header = Checkpoint.Header(config: config.document.jsonText, vocabulary: data.vocabulary, model: model,
                                       position: position, optimizer: optimizerRecord, stateCount: hiddenState.count,
                                       data: data.identity)
        return Checkpoint(header: header, parameters: parameters.array, optimizerState: optimizer.state.array,
                          hiddenState: hiddenState)
    }

    /// Continues from the checkpoint `request` names ("auto", a file, or a directory): rank 0
    /// finds and verifies it, every rank receives it, checks that it fits this run and takes
    /// its parameters, optimizer state, rows of the hidden state and position.
    func restore(from request: String) throws {
        let found = try CheckpointLookup.shared(by: communicator) { () -> (path: String, checkpoint: Checkpoint)? in
            if request == "auto" {
                return CheckpointStore(directory: config.checkpoint.dir, keep: .max).newestValid { startNotes.append($0) }
            }
            return try CheckpointLookup.find(request, option: "--resume") { startNotes.append($0) }
        }
        guard let (path, checkpoint) = found else {
            startNotes.append("no checkpoint in \(config.checkpoint.dir): starting from step 0")
            return
        }
        try communicator.agree { try checkFits(checkpoint, path: path) }
        for (i, value) in checkpoint.parameters.enumerated() { parameters[i] = value }
        for (i, value) in checkpoint.optimizerState.enumerated() { optimizer.state[i] = value }
        let (position, optimizerRecord) = (checkpoint.header.position, checkpoint.header.optimizerRecord)
        optimizer.steps = optimizerRecord.steps
        learningRate = LearningRate(schedule: config.schedule, base: config.train.lr, current: optimizerRecord.learningRate)
        let W = model.shape.stateWidth
        for i in 0..<state.count { state[i] = checkpoint.hiddenState[layout.rows.lowerBound * W + i] }
        step = position.step
        cursor = DataCursor(epoch: position.epoch, chunk: position.chunk)
        random = RandomSource(seed: position.random)
        interval = LogInterval(nats: position.intervalNats, tokens: position.intervalTokens, steps: position.intervalSteps)
        validations = ValidationHistory(last: position.lastValidationLoss, best: position.bestValidationLoss,
                                        sinceBest: position.validationsSinceBest)
        startNotes.append("resuming from \(path) (step \(position.step), epoch \(position.epoch))")
    }

    /// Fine-tuning: the parameters of the checkpoint `request` names (a file or a directory),
    /// the optimizer's state too with `train.keep_optimizer`; everything else starts afresh.
    func initialize(from request: String) throws {
        let (path, checkpoint) = try CheckpointLookup.shared(by: communicator) {
            try CheckpointLookup.find(request, option: "--init-from") { startNotes.append($0) }
        }!
        try communicator.agree {
            try checkFitsModel(checkpoint, path: path)
            if config.train.keepOptimizer { try checkFitsOptimizer(checkpoint, path: path) }
        }
        for (i, value) in checkpoint.parameters.enumerated() { parameters[i] = value }
        if config.train.keepOptimizer {
            for (i, value) in checkpoint.optimizerState.enumerated() { optimizer.state[i] = value }
            optimizer.steps = checkpoint.header.optimizerSteps
        }
        startNotes.append("initialized from \(path) (its step \(checkpoint.header.step)\(config.train.keepOptimizer ? ", with its optimizer state" : ""))")
    }

    /// A checkpoint of another model, vocabulary or batch shape is an input error saying which.
    func checkFits(_ checkpoint: Checkpoint, path: String) throws {
        try checkFitsModel(checkpoint, path: path)
        try checkFitsOptimizer(checkpoint, path: path)
        let h = checkpoint.header
        guard h.batchSize == config.train.batchSize, h.seqLength == config.train.seqLength,
              h.stateCount == config.train.batchSize * model.shape.stateWidth else {
            throw RNNDistError.input("\(path): the checkpoint was trained with train.batch_size \(h.batchSize) × train.seq_length \(h.seqLength); resuming needs the same (the data cursor counts chunks of that shape)")
        }
        if let trained = h.data {
            if let difference = trained.difference(from: data.identity, source: data.description) {
                throw RNNDistError.input("\(path): \(difference); resuming needs the same data (its data cursor counts chunks of it)")
            }
        } else {
            // Written before checkpoints recorded their data: its config still says the split.
            let stored = try? ConfigLoader.decode(JSONValue.parse(Data(h.config.utf8)), source: path, name: "checkpoint")
            if let stored, stored.data.valFraction != config.data.valFraction {
                throw RNNDistError.input("\(path): data.val_fraction: the checkpoint was trained with \(stored.data.valFraction), this run asks for \(config.data.valFraction); resuming needs the same split")
            }
            startNotes.append("note: \(path) predates data records in checkpoints: only data.val_fraction was checked, not that the corpus is the same")
        }
        guard h.chunk < layout.stepsPerEpoch else {
            throw RNNDistError.input("\(path): the checkpoint's data cursor (chunk \(h.chunk)) lies past this data's \(layout.stepsPerEpoch) steps per epoch; resuming needs the same data")
        }
    }

    func checkFitsModel(_ checkpoint: Checkpoint, path: String) throws {
        let h = checkpoint.header
        guard checkpoint.vocabulary == data.vocabulary else {
            throw RNNDistError.input("\(path): the checkpoint's vocabulary (\(h.tokenizer), V = \(checkpoint.vocabulary.count)) differs from this corpus's (\(data.vocabulary.tokenizer.rawValue), V = \(data.vocabulary.count))")
        }
        guard h.cell == model.shape.cell.rawValue, h.hidden == model.shape.hidden, h.layers == model.shape.layers,
              h.activation == model.shape.activation.rawValue, h.tensors == Checkpoint.describe(model.layout) else {
            throw RNNDistError.input("\(path): the checkpoint holds a \(h.layers)-layer \(h.cell) \(h.activation) model with hidden_size \(h.hidden); the config asks for \(model.shape.layers)-layer \(model.shape.cell.rawValue) \(model.shape.activation.rawValue) with hidden_size \(model.shape.hidden)")
        }
    }

    func checkFitsOptimizer(_ checkpoint: Checkpoint, path: String) throws {
        let h = checkpoint.header
        guard h.optimizer == config.train.optimizer.rawValue, h.optimizerStateCount == optimizer.state.count else {
            throw RNNDistError.input("\(path): the checkpoint was trained with the \(h.optimizer) optimizer; the config asks for \(config.train.optimizer.rawValue)")
        }
    }
}
