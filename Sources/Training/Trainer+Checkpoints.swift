import Foundation
import Model

/// Checkpoint writing (rank 0) and exact resume (every rank) for the trainer (SPEC §4).
extension Trainer {
    /// The carried hidden state of the whole global batch (B, H): each rank fills its own rows
    /// of a zeroed buffer and one allreduce assembles it. Every rank calls this together.
    func globalHiddenState() throws -> [Float] {
        let W = model.shape.stateWidth
        var all = [Float](repeating: 0, count: config.train.batchSize * W)
        for (i, value) in state.array.enumerated() { all[layout.rows.lowerBound * W + i] = value }
        try all.withUnsafeMutableBufferPointer { try communicator.allreduceSum($0) }
        return all
    }

    /// Writes a checkpoint of the current step (rank 0; the others take part in assembling the
    /// hidden state and in agreeing that the write worked).
    func writeCheckpoint(isBest: Bool, say: (String) -> Void) throws {
        let hidden = try globalHiddenState()
        let path = try communicator.agree { () -> String? in
            guard isLeader && !quiet else { return nil }
            return try store.write(makeCheckpoint(hiddenState: hidden), isBest: isBest)
        }
        if let path { say("checkpoint \(path)\(isBest ? " (best validation loss so far)" : "")") }
    }

    func makeCheckpoint(hiddenState: [Float]) -> Checkpoint {
        var header = Checkpoint.Header(
            config: config.document.jsonText, tokenizer: data.vocabulary.tokenizer.rawValue,
            symbols: data.vocabulary.symbols, cell: config.model.cell.rawValue, activation: model.shape.activation.rawValue,
            hidden: model.shape.hidden, layers: model.shape.layers, tensors: Checkpoint.describe(model.layout), step: step,
            epoch: cursor.epoch, chunk: cursor.chunk, batchSize: config.train.batchSize,
            seqLength: config.train.seqLength, random: random.state, intervalNats: interval.nats,
            intervalTokens: interval.tokens, intervalSteps: interval.steps, optimizer: config.train.optimizer.rawValue,
            optimizerSteps: optimizer.steps, learningRate: learningRate, optimizerStateCount: optimizer.state.count,
            lastValidationLoss: lastValidationLoss,
            bestValidationLoss: bestValidationLoss, parameterCount: model.layout.count, stateCount: hiddenState.count)
        if data.vocabulary.tokenizer == .word { header.words = data.vocabulary.words }
        return Checkpoint(header: header, parameters: parameters.array, optimizerState: optimizer.state.array,
                          hiddenState: hiddenState)
    }

    /// Loads the checkpoint `request` names ("auto", a file, or a directory) on rank 0, hands
    /// it to every rank, checks that it fits this run and continues from it.
    func restore(from request: String) throws {
        let say: (String) -> Void = { [quiet, isLeader] text in
            if isLeader && !quiet { FileHandle.standardOutput.write(Data((text + "\n").utf8)) }
        }
        // Rank 0 sends "path\0" + the file's bytes; nothing when "auto" finds no checkpoint.
        let message: [UInt8] = try communicator.fromRoot {
            guard let (path, checkpoint) = try locate(request, report: say) else { return [] }
            // The checkpoint as verified (its encoding is bit-exact), not a second read of a
            // file that could have changed since.
            return Array(path.utf8) + [0] + Array(checkpoint.encoded())
        }
        guard let separator = message.firstIndex(of: 0) else {
            say("no checkpoint in \(config.checkpoint.dir): starting from step 0")
            return
        }
        let path = String(decoding: message[..<separator], as: UTF8.self)
        let checkpoint = try communicator.agree { () -> Checkpoint in
            let checkpoint = try Checkpoint.decode(Data(message[(separator + 1)...]), path: path)
            try checkFits(checkpoint, path: path)
            return checkpoint
        }
        let h = checkpoint.header
        for (i, value) in checkpoint.parameters.enumerated() { parameters[i] = value }
        for (i, value) in checkpoint.optimizerState.enumerated() { optimizer.state[i] = value }
        optimizer.steps = h.optimizerSteps
        learningRate = h.learningRate
        let W = model.shape.stateWidth
        for i in 0..<state.count { state[i] = checkpoint.hiddenState[layout.rows.lowerBound * W + i] }
        step = h.step
        cursor = DataCursor(epoch: h.epoch, chunk: h.chunk)
        random = RandomSource(seed: h.random)
        interval = Interval(nats: h.intervalNats, tokens: h.intervalTokens, steps: h.intervalSteps, communication: 0)
        lastValidationLoss = h.lastValidationLoss
        bestValidationLoss = h.bestValidationLoss
        say("resuming from \(path) (step \(h.step), epoch \(h.epoch))")
    }

    /// The file to resume from, or nil when "auto" finds none.
    func locate(_ request: String, report: (String) -> Void) throws -> (String, Checkpoint)? {
        if request == "auto" {
            return CheckpointStore(directory: config.checkpoint.dir, keep: .max).newestValid(report: report)
                .map { ($0.path, $0.checkpoint) }
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: request, isDirectory: &isDirectory) else {
            throw RNNDistError.input("--resume \(request): no such checkpoint file or directory")
        }
        if isDirectory.boolValue {
            guard let found = CheckpointStore(directory: request, keep: .max).newestValid(report: report) else {
                throw RNNDistError.input("--resume \(request): no valid checkpoint in that directory")
            }
            return (found.path, found.checkpoint)
        }
        return (request, try Checkpoint.load(path: request))
    }

    /// A checkpoint of another model, vocabulary or batch shape is an input error saying which.
    func checkFits(_ checkpoint: Checkpoint, path: String) throws {
        let h = checkpoint.header
        guard h.tokenizer == data.vocabulary.tokenizer.rawValue, h.symbols == data.vocabulary.symbols,
              (h.words ?? []) == data.vocabulary.words else {
            throw RNNDistError.input("\(path): the checkpoint's vocabulary (\(h.tokenizer), V = \(h.symbols.count)) differs from this corpus's (\(data.vocabulary.tokenizer.rawValue), V = \(data.vocabulary.count))")
        }
        guard h.cell == config.model.cell.rawValue, h.hidden == model.shape.hidden, h.layers == model.shape.layers,
              h.activation == model.shape.activation.rawValue, h.tensors == Checkpoint.describe(model.layout) else {
            throw RNNDistError.input("\(path): the checkpoint holds a \(h.layers)-layer \(h.cell) \(h.activation) model with hidden_size \(h.hidden); the config asks for \(model.shape.layers)-layer \(config.model.cell.rawValue) \(model.shape.activation.rawValue) with hidden_size \(model.shape.hidden)")
        }
        guard h.optimizer == config.train.optimizer.rawValue, h.optimizerStateCount == optimizer.state.count else {
            throw RNNDistError.input("\(path): the checkpoint was trained with the \(h.optimizer) optimizer; the config asks for \(config.train.optimizer.rawValue)")
        }
        guard h.batchSize == config.train.batchSize, h.seqLength == config.train.seqLength,
              h.stateCount == config.train.batchSize * model.shape.stateWidth else {
            throw RNNDistError.input("\(path): the checkpoint was trained with train.batch_size \(h.batchSize) × train.seq_length \(h.seqLength); resuming needs the same (the data cursor counts chunks of that shape)")
        }
    }
}
