import Foundation
import Kernels
import Model
import Distributed

/// The data-parallel training loop (README, "Design"). Every step, on every rank: forward and
/// backward on the local rows, the gradient, loss and token sums through the `StepExchange`
/// (summed over all ranks), the NaN policy, then division by the global sequence count,
/// clipping and the optimizer. Every rank applies the same update to the same parameters, so
/// the replicas stay identical. What happens around a step — progress, metrics, samples,
/// plots, checkpoint files — belongs to the observers handed to `run`, which only rank 0 has.
public final class Trainer {
    public let config: Config
    public let communicator: Communicator
    public let data: TrainingData
    public let model: LanguageModel<Float>
    public let threads: Int
    /// What this rank is expected to hold at its peak, in bytes: the model's and the run's
    /// (`MemoryEstimate`) and the tokens it holds in memory.
    let memoryPerRank: Double
    public var layout: StreamLayout { data.trainLayout }

    let parameters: FlatBuffer<Float>
    let exchange: StepExchange
    let optimizer: Optimizer<Float>
    let state: FlatBuffer<Float>     // (B/P, stateWidth): the carried state of this rank's rows
    /// Activations of one micro-batch, when one thread runs it (nil when the threads run replicas).
    let work: Workspace<Float>?
    /// The rank's threads as replicas of the model, each with its share of the rows; nil for one.
    let replicas: ThreadReplicas?
    let evaluator: Evaluator?
    let samplePrime: [Int32]

    /// This rank's stop vote, asked once per step: a stop signal by default.
    public var stopRequested: () -> StopReason? = { StopSignals.isRequested ? .signal(StopSignals.name) : nil }

    // Where the run stands: restored from a checkpoint on resume.
    var step = 0
    var cursor = DataCursor()
    var random: RandomSource         // rank 0's sampling stream
    var interval = LogInterval()
    var validations = ValidationHistory()
    var learningRate: LearningRate
    var badSteps: BadStepPolicy
    /// What resuming found, for the observers' start of the run.
    var startNotes: [String] = []

    /// `resume`: nil for a fresh run, "auto" for the newest valid checkpoint in checkpoint.dir
    /// (a fresh run when there is none), or a checkpoint file (or a directory: its newest).
    /// `initFrom`: a fresh run (step 0, on the config's data) that starts from a checkpoint's
    /// parameters — fine-tuning; a checkpoint to resume from takes precedence, so a requeued
    /// fine-tuning job continues itself.
    public init(config: Config, communicator: Communicator, resume: String? = nil, initFrom: String? = nil) throws {
        self.config = config
        self.communicator = communicator
        data = try TrainingData(config: config, communicator: communicator)
        let shape = config.modelShape(vocabulary: data.vocabulary.count)
        let threads = config.train.threads ?? defaultThreadCount(ranksOnNode: communicator.ranksOnNode)
        let (trainRows, validation) = (data.trainLayout.rows.count, data.validationLayout.map { ($0.steps, $0.rows.count) })
        let memory = MemoryEstimate(config: config, shape: shape, trainRows: trainRows, validation: validation,
                                    ranks: communicator.size, threads: threads)
        try communicator.agree { try memory.check(ranksOnNode: communicator.ranksOnNode) }
        memoryPerRank = memory.bytesPerRank + Double(data.train.residentBytes + data.validation.residentBytes)
        self.threads = threads
        // With more threads than cores, a worker spinning after a job holds a core that another
        // rank's thread waits for: model B, 2 ranks × 2 threads on 2 cores, ran 0.87–0.93 of the
        // tokens/s of workers that slept at once (four interleaved pairs).
        workersSpinWhenIdle = threads * communicator.ranksOnNode <= defaultThreadCount(ranksOnNode: 1)
        model = LanguageModel(shape: shape)
        parameters = FlatBuffer(count: model.layout.count)
        model.initialize(parameters, seed: UInt64(config.train.seed))
        exchange = StepExchange(layout: model.layout, buckets: model.gradientBuckets, communicator: communicator,
                                type: config.train.allreduceDtype)
        optimizer = Optimizer(config.optimizerSettings, parameterCount: model.layout.count)
        learningRate = LearningRate(schedule: config.schedule, base: config.train.lr)
        badSteps = BadStepPolicy(allowed: config.train.maxBadSteps)
        state = FlatBuffer(count: data.trainLayout.rows.count * model.shape.stateWidth)
        // Activations for one micro-batch of B/(P·A) rows (split between the replicas when the
        // threads run replicas); validation runs all B/P rows at once, so with A > 1 or replicas
        // it needs a workspace of its own.
        let microRows = data.trainLayout.rows.count / config.train.accumulate
        replicas = ThreadReplicas(model: model, steps: config.train.seqLength, rows: microRows, threads: threads)
        work = replicas == nil ? model.makeWorkspace(steps: config.train.seqLength, rows: microRows) : nil
        let ownValidationWork = Evaluator.needsOwnWorkspace(replicated: replicas != nil, accumulate: config.train.accumulate)
        evaluator = Evaluator(model: model, data: data, communicator: communicator, threads: threads,
                              work: ownValidationWork ? nil : work)
        random = RandomSource(seed: UInt64(config.train.seed) &+ 0x5A3D_1E)
        let vocabulary = data.vocabulary
        samplePrime = try communicator.agree {
            config.sample.prime.isEmpty ? [vocabulary.startToken] : try vocabulary.encode(config.sample.prime).get()
        }
        if let resume { try restore(from: resume) }
        if let initFrom, step == 0 { try initialize(from: initFrom) }
    }

    public var totalSteps: Int {
        let (planned, overflow) = config.train.epochs.multipliedReportingOverflow(by: layout.stepsPerEpoch)
        return min(config.train.maxSteps ?? .max, overflow ? .max : planned)
    }

    var tokensPerStep: Int { config.train.batchSize * config.train.seqLength }

    /// Trains to the end (or to an agreed stop) and returns the summary, on every rank.
    public func run(observers: [TrainingObserver] = []) throws -> TrainingSummary {
        let start = RunStart(header: header, notes: startNotes + notes, totalSteps: totalSteps)
        for observer in observers { observer.runStarted(start) }
        let watchdog = Watchdog(timeout: config.train.stallTimeout, rank: communicator.rank)
        watchdog.start()
        defer { watchdog.stop() }
        let runStart = Date()
        interval.clockStart = runStart
        var batch = layout.makeBatch(masked: data.train.scoredTargets != nil)
        var summary = TrainingSummary(steps: step, trainLoss: .nan, validationLoss: validations.last,
                                      tokensPerSecond: 0, parameters: [])
        var lastCheckpoint = step  // 0: none yet

        while step < totalSteps {
            if cursor.chunk == 0 || !config.train.carryState { state.zero() }
            layout.fill(&batch, step: cursor.chunk, from: data.train)
            let (totals, vote) = try forwardBackward(batch)
            var event = StepEvent(step: step + 1, totalSteps: totalSteps, epoch: cursor.epoch, isLast: step + 1 == totalSteps,
                                  loss: totals.meanLoss, intervalLoss: totals.meanLoss, tokens: Int(totals.tokens),
                                  gradientNorm: 0, learningRate: learningRate.current,
                                  communicationSeconds: exchange.communicationSeconds, tokensPerSecond: 0,
                                  elapsed: 0, stop: totals.stopRequested ? vote ?? .otherRank : nil)
            step += 1
            cursor.advance(stepsPerEpoch: layout.stepsPerEpoch)
            watchdog.beat()

            event.gradientNorm = meanAndClipGradients()
            switch badSteps.judge(loss: totals.lossSum, gradientNorm: event.gradientNorm) {
            case .stop(let what, let inARow):
                let kept = lastCheckpoint > 0 ? "the last checkpoint (step \(lastCheckpoint)) is untouched" : "no checkpoint was written"
                throw RNNDistError.runtime("step \(step): the \(what) is not finite (NaN or Inf), \(inARow) steps in a row (train.max_bad_steps); stopped, \(kept). Try a smaller train.lr or clipping")
                    .agreed(rank: communicator.rank)
            case .skip(let skipped):
                state.zero()  // the carried state may hold the NaN
                event.skipped = skipped
                event.stop = nil
                try notify(observers, of: event)
                continue
            case .update:
                event.learningRate = learningRate.prepareUpdate(afterSteps: step - 1)
                optimizer.update(parameters, gradients: exchange.gradients, learningRate: event.learningRate, threads: threads)
            }

            let now = Date()
            interval.add(totals, communicationSeconds: exchange.communicationSeconds)
            (event.intervalLoss, event.elapsed) = (interval.nats / max(interval.tokens, 1), now.timeIntervalSince(runStart))
            event.tokensPerSecond = interval.tokensPerSecond(tokensPerStep: tokensPerStep, now: now)
            if step % config.log.every == 0 || event.isLast || event.stop != nil {
                event.report = interval.report(tokensPerStep: tokensPerStep, now: now)
                (summary.trainLoss, summary.tokensPerSecond) = (event.report!.loss, event.report!.tokensPerSecond)
                // A line off the grid (the end, a stop) keeps the sums: a resumed run's next line
                // then reports what a run that never stopped reports.
                if step % config.log.every == 0 { interval = LogInterval() }
            }
            if communicator.size > 1, step % config.train.syncCheckEvery == 0 || event.isLast {
                try checkReplicasAgree()
            }
            if let every = config.log.valEvery, step % every == 0 || event.isLast,
               let validation = try validateAndAdapt(onGrid: step % every == 0) {
                event.validation = validation
                summary.validationLoss = validation.loss
                interval.clockStart = Date()  // validation time is not training throughput
                if event.stop == nil, validations.exhausted(patience: config.train.earlyStop) {
                    event.stop = .earlyStop(patience: config.train.earlyStop!, best: validations.best ?? .nan)
                }
            }
            let isBest = event.validation.map { $0.isBest && !$0.isExtra } ?? false
            if step % config.checkpoint.every == 0 || event.isLast || event.stop != nil || isBest {
                event.checkpoint = try checkpointRequest(isBest: isBest)
                lastCheckpoint = step
            }
            try notify(observers, of: event)
            if event.stop != nil { break }
        }
        summary.steps = step
        summary.parameters = parameters.array
        for observer in observers { observer.runFinished(summary) }
        return summary
    }

    /// One forward and backward pass over this rank's rows — as `train.accumulate` micro-batches
    /// of B/(P·A) rows, each from its rows' slice of the carried state, their gradients adding up
    /// in the exchange — with the gradients handed to the exchange as the model finishes them in
    /// the last micro-batch (the output layer's with the step's loss and token sums, then the
    /// recurrent layers' piece by piece);
    /// returns the step's sums over every rank and this rank's own stop vote.
    func forwardBackward(_ batch: TokenBatch) throws -> (StepTotals, StopReason?) {
        try data.checkReads()  // a damaged token file block read while filling `batch`
        exchange.begin()
        guard let work else { return try replicatedForwardBackward(batch) }
        let (rows, parts, W) = (work.rows, batch.rows / work.rows, model.shape.stateWidth)
        var vote: StopReason?
        var local = LossSum.zero
        for part in 0..<parts {
            let selected = (part * rows)..<((part + 1) * rows)
            let micro = parts == 1 ? batch : batch.selecting(rows: selected)
            let carried = parts == 1 ? state : state.copying(rows: selected, width: W)
            let dropout = dropoutSeed(rows: selected)
            let isLast = part == parts - 1
            _ = model.run(micro, parameters: parameters, state: carried, gradients: exchange.gradients, work: work,
                          threads: threads, dropout: dropout, truncate: config.train.bpttTruncate, stateGradient: false,
                          outputGradientsReady: { [exchange, stopRequested] loss in
                              local += loss
                              guard isLast else { return }
                              vote = stopRequested()
                              exchange.record(local, stopVote: vote != nil)
                              exchange.startBucket(0)
                          },
                          listener: isLast ? exchange : nil)   // earlier micro-batches' sums are not final
            if parts > 1 { state.replace(rows: selected, width: W, with: carried) }
        }
        return (try exchange.finish(), vote)
    }

    /// `forwardBackward` with the rank's threads as replicas: each micro-batch's rows split
    /// between them, all at once, each replica's gradients in a buffer of its own. In the last
    /// micro-batch the replicas' sums go into the exchange piece by piece, each as soon as
    /// every replica has finished it (`ReplicaExchange`), as one thread's do.
    func replicatedForwardBackward(_ batch: TokenBatch) throws -> (StepTotals, StopReason?) {
        let replicas = replicas!
        let (parts, W) = (config.train.accumulate, model.shape.stateWidth)
        let rows = batch.rows / parts
        func pass(_ r: Int, _ selected: Range<Int>, streaming: ReplicaExchange?) -> LossSum {
            let micro = batch.selecting(rows: selected)
            let carried = state.copying(rows: selected, width: W)
            let loss = model.run(micro, parameters: parameters, state: carried, gradients: replicas.gradients[r],
                                 work: replicas.workspaces[r], threads: replicas.kernelThreads,
                                 weightGradientThreads: replicas.count,
                                 dropout: dropoutSeed(rows: selected), truncate: config.train.bpttTruncate, stateGradient: false,
                                 outputGradientsReady: { streaming?.outputFinal(replica: r, loss: $0) },
                                 listener: streaming?.listener(replica: r))
            state.replace(rows: selected, width: W, with: carried)
            return loss
        }
        replicas.begin()
        for part in 0..<(parts - 1) {   // earlier micro-batches' sums are not final
            replicas.run(first: part * rows) { r, selected in pass(r, selected, streaming: nil) }
        }
        let streaming = ReplicaExchange(replicas: replicas, exchange: exchange, earlierLoss: replicas.loss,
                                        stopVote: stopRequested)
        replicas.run(first: (parts - 1) * rows, whileWaiting: streaming.poll) { r, selected in
            pass(r, selected, streaming: streaming)
        }
        streaming.finish()
        return (try exchange.finish(), streaming.vote)
    }

    /// This step's dropout masks for this rank's rows `rows` (nil without dropout). Masks follow
    /// the global row, so any rank count, micro-batching or thread replicas draw the same ones.
    func dropoutSeed(rows: Range<Int>) -> DropoutSeed? {
        guard config.model.dropout > 0 else { return nil }
        return DropoutSeed(seed: UInt64(config.train.seed), step: step, firstRow: layout.rows.lowerBound + rows.lowerBound)
    }

    /// Turns the summed gradients into the mean over the global batch's sequences (the loss is
    /// a sum over sequences) and clips them; returns their norm before clipping.
    func meanAndClipGradients() -> Double {
        let g = exchange.gradients
        scale(g.base, count: g.count, by: 1 / Float(config.train.batchSize))
        return config.clipping.apply(g.base, count: g.count)
    }

    /// Runs a validation; nil without a validation split. One on the `log.val_every` grid
    /// feeds the schedule and the validation history; an extra one at the run's end is only
    /// reported, so a run stopped there and resumed goes on as one that never stopped.
    func validateAndAdapt(onGrid: Bool) throws -> ValidationReport? {
        guard let loss = try validate() else { return nil }
        guard onGrid else {
            return ValidationReport(loss: loss, isBest: loss < (validations.best ?? .infinity), isExtra: true)
        }
        let change = learningRate.afterValidation(previous: validations.last, latest: loss)
        let isBest = validations.record(loss)
        return ValidationReport(loss: loss, isBest: isBest, isExtra: false, learningRateChange: change)
    }

    /// Mean loss (nats per token) over the whole validation split; nil when it is too small.
    public func validate() throws -> Double? {
        try evaluator?.loss(parameters: parameters)
    }

    /// Hands `event` to the observers. A step that checkpoints is agreed: a failed write on
    /// rank 0 ends every rank with the same error, before any waits in the next step.
    func notify(_ observers: [TrainingObserver], of event: StepEvent) throws {
        let deliver = { for observer in observers { try observer.stepFinished(event, trainer: self) } }
        if event.checkpoint != nil { try communicator.agree(deliver) } else { try deliver() }
    }

    /// Text from the current model, primed with `sample.prime` (rank 0's random stream).
    public func sample(length: Int) -> String {
        let sampler = Sampler(model: model, parameters: parameters)
        let tokens = sampler.generate(prime: samplePrime, length: length, temperature: config.sample.temperature,
                                      topK: nil, greedy: false, random: &random)
        return data.vocabulary.decode((config.sample.prime.isEmpty ? [] : samplePrime) + tokens)
    }

    /// Every rank applies the same update to the same parameters, so the replicas must stay
    /// bit-identical. Rank 0 broadcasts a checksum of its parameters; any rank whose own
    /// differs flags it in an allreduce, and every rank stops with the same error.
    func checkReplicasAgree() throws {
        var checksum: [UInt64] = [parameters.withUnsafeMutableBufferPointer { fnv1a(UnsafeRawBufferPointer($0)) }]
        let mine = checksum[0]
        try checksum.withUnsafeMutableBytes { try communicator.broadcast($0, root: 0) }
        var mismatches: [Float] = [checksum[0] == mine ? 0 : 1]
        try mismatches.withUnsafeMutableBufferPointer { try communicator.allreduceSum($0) }
        guard mismatches[0] == 0 else {
            throw RNNDistError.runtime("step \(step): the parameters of \(Int(mismatches[0])) rank(s) differ from rank 0's; the replicas diverged")
                .agreed(rank: communicator.rank)
        }
    }

    /// What the observers are told at the start besides the header.
    var notes: [String] {
        var notes: [String] = []
        if data.validationLayout == nil {
            notes.append("note: the validation split (\(data.validationTokenCount) tokens) is smaller than one batch; validation is skipped")
        }
        if step >= totalSteps { notes.append("nothing to train: step \(step) already reached the end (\(totalSteps) steps)") }
        return notes
    }

    var header: String {
        let resumed = step > 0 ? " | resumed at step \(step)" : ""
        return "rnn-dist: \(data.description): \(data.trainTokenCount) training + \(data.validationTokenCount) validation tokens, V = \(data.vocabulary.count) | \(model.shape.description), \(model.layout.count) parameters | batch \(config.train.batchSize) × \(config.train.seqLength) on \(communicator.size) rank(s) × \(threads) thread(s), about \(Progress.bytes(memoryPerRank)) per rank | \(layout.stepsPerEpoch) steps/epoch, \(totalSteps) steps\(resumed)"
    }
}

extension ModelShape {
    /// "2 × lstm H = 256 dropout 0.2", "rnn tanh H = 64": for headers and messages.
    var description: String {
        let kind = cell == .rnn ? "rnn \(activation.rawValue)" : cell.rawValue
        return "\(layers > 1 ? "\(layers) × " : "")\(kind) H = \(hidden)\(dropout > 0 ? " dropout \(dropout)" : "")"
    }
}

/// FNV-1a, 64 bit: a checksum of bytes (checkpoints, replica comparison).
func fnv1a(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
    return hash
}
