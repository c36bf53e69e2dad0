import Foundation
import Kernels
import Model
import Distributed

/// FNV-1a, 64 bit: a checksum of bytes (checkpoints, replica comparison).
func fnv1a(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
    return hash
}

/// What a finished run reports.
public struct TrainingSummary: Sendable {
    public var steps: Int
    /// Mean training loss (nats per character) over the last logging interval.
    public var trainLoss: Double
    /// The last validation loss (nats per character), if validation ran.
    public var validationLoss: Double?
    public var tokensPerSecond: Double
    public var parameters: [Float]
    /// The run ended early on a stop signal (after checkpointing).
    public var stoppedBySignal: Bool
}

/// Where the next step's data comes from: chunk `chunk` of epoch `epoch` (1-based).
struct DataCursor: Equatable {
    var epoch = 1
    var chunk = 0
}

/// The data-parallel training loop (SPEC §3). Every step, on every rank:
/// forward and backward on the local rows → local gradient sums, loss sum, token count and a
/// stop flag in one flat buffer → allreduce(SUM), in two buckets (the output layer's starts
/// while BPTT runs) → divide by the global sequence count → clip → the optimizer. Every rank
/// applies the same update to the same parameters, so the replicas stay identical. Rank 0 alone prints, writes metrics, samples and checkpoints.
public final class Trainer {
    public let config: Config
    public let communicator: Communicator
    public let data: TrainingData
    public let model: LanguageModel<Float>
    public let threads: Int
    public var layout: StreamLayout { data.trainLayout }

    let parameters: FlatBuffer<Float>
    /// Gradients (the parameters' layout), then loss sum, token count, stop flag: one allreduce.
    let reduction: FlatBuffer<Float>
    let optimizer: Optimizer<Float>
    let state: FlatBuffer<Float>     // (B_local, H) carried hidden state
    let work: Workspace<Float>
    let store: CheckpointStore
    let quiet: Bool
    let interactive: Bool
    let samplePrime: [Int32]

    // Where the run stands: restored from a checkpoint on resume.
    var step = 0
    var cursor = DataCursor()
    var random: RandomSource
    var interval = Interval()
    var lastValidationLoss: Double?
    var bestValidationLoss: Double?
    var learningRate: Double

    struct Interval {
        var nats = 0.0, tokens = 0.0, steps = 0, communication = 0.0
    }

    var isLeader: Bool { communicator.rank == 0 }

    /// Called on every rank after each step with the step number (benchmarks time with it).
    public var stepObserver: ((Int) -> Void)?
    /// Called after each step's allreduce with the seconds it took (waiting included).
    public var communicationObserver: ((Double) -> Void)?

    /// `resume`: nil for a fresh run, "auto" for the newest valid checkpoint in checkpoint.dir
    /// (a fresh run when there is none), or a checkpoint file (or a directory: its newest).
    /// `interactive`: standard output is a terminal a person watches (a live progress line);
    /// otherwise plain lines for a log. `quiet`: no output, metrics or checkpoints (tests).
    public init(config: Config, communicator: Communicator, resume: String? = nil,
                quiet: Bool = false, interactive: Bool = false) throws {
        let (B, ranks) = (config.train.batchSize, communicator.size)
        try communicator.agree {
            guard B % ranks == 0 else {
                throw RNNDistError.input("\(config.source): train.batch_size \(B) does not divide by the \(ranks) ranks; choose a multiple of \(ranks)")
            }
        }
        self.config = config
        self.communicator = communicator
        self.quiet = quiet
        self.interactive = interactive
        data = try TrainingData(config: config, communicator: communicator)
        let shape = config.modelShape(vocabulary: data.vocabulary.count)
        model = LanguageModel(shape: shape)
        threads = config.train.threads ?? defaultThreadCount(ranksOnNode: communicator.ranksOnNode)
        parameters = FlatBuffer(count: model.layout.count)
        model.initialize(parameters, seed: UInt64(config.train.seed))
        reduction = FlatBuffer(count: model.layout.count + 3)
        optimizer = Optimizer(config.optimizerSettings, parameterCount: model.layout.count)
        learningRate = config.train.lr
        state = FlatBuffer(count: data.trainLayout.rows.count * shape.stateWidth)
        work = model.makeWorkspace(steps: config.train.seqLength, rows: data.trainLayout.rows.count)
        store = CheckpointStore(directory: config.checkpoint.dir, keep: config.checkpoint.keep)
        random = RandomSource(seed: UInt64(config.train.seed) &+ 0x5A3D_1E)
        let vocabulary = data.vocabulary
        samplePrime = try communicator.agree {
            let prime = config.sample.prime.isEmpty ? [vocabulary.startToken] : try vocabulary.encode(config.sample.prime).get()
            return prime
        }
        if let resume { try restore(from: resume) }
    }

    public var totalSteps: Int {
        min(config.train.maxSteps ?? .max, config.train.epochs * layout.stepsPerEpoch)
    }

    /// Trains to the end (or to a stop signal) and returns the summary, on every rank.
    public func run() throws -> TrainingSummary {
        let progress = Progress(totalSteps: totalSteps, isTerminal: interactive)
        let metrics = try communicator.agree { try isLeader && !quiet ? config.log.metrics.map(MetricsLog.init(path:)) : nil }
        let say: (String) -> Void = { [quiet, isLeader] text in if isLeader && !quiet { progress.line(text) } }
        say(header)
        if data.validationLayout == nil {
            say("note: the validation split (\(data.validationTokenCount) tokens) is smaller than one batch; validation is skipped")
        }
        let watchdog = Watchdog(timeout: config.train.stallTimeout, rank: communicator.rank)
        watchdog.start()
        defer { watchdog.stop() }

        let n = model.layout.count
        // The output layer's tensors close the layout: U, b2, then the three scalars.
        let outputBucket = model.output.weight.offset
        precondition(model.output.bias.offset + model.output.bias.count == n, "the output layer must end the layout")
        let (B, T) = (config.train.batchSize, config.train.seqLength)
        let clipping = config.clipping
        var batch = layout.makeBatch(masked: data.train.scoredTargets != nil)
        let start = Date()
        var intervalStart = start
        var summary = TrainingSummary(steps: step, trainLoss: .nan, validationLoss: lastValidationLoss,
                                      tokensPerSecond: 0, parameters: [], stoppedBySignal: false)
        var badSteps = 0
        var lastCheckpoint = step  // 0: none yet
        if step >= totalSteps { say("nothing to train: step \(step) already reached the end (\(totalSteps) steps)") }

        while step < totalSteps {
            if cursor.chunk == 0 || !config.train.carryState { state.zero() }
            layout.fill(&batch, step: cursor.chunk, from: data.train)
            reduction.zero()
            let dropout = config.model.dropout > 0
                ? DropoutSeed(seed: UInt64(config.train.seed), step: step, firstRow: layout.rows.lowerBound) : nil
            // Two buckets: the output layer's gradients with the loss, token count and stop flag
            // (the end of the buffer) start reducing as soon as they are final, while BPTT
            // runs; the recurrent layers' gradients follow in one blocking allreduce.
            var pending: Result<PendingReduction, Error>? = nil
            var communicationTime = 0.0
            _ = model.run(batch, parameters: parameters, state: state, gradients: reduction, work: work,
                          threads: threads, dropout: dropout, truncate: config.train.bpttTruncate) { [reduction, communicator] local in
                reduction[n] = Float(local.nats)
                reduction[n + 1] = Float(local.tokens)
                reduction[n + 2] = StopSignals.isRequested ? 1 : 0
                let start = Date()
                pending = Result { try reduction.withUnsafeMutableBufferPointer {
                    try communicator.startAllreduceSum(UnsafeMutableBufferPointer(rebasing: $0[outputBucket...]))
                } }
                communicationTime += Date().timeIntervalSince(start)
            }
            let communicationStart = Date()
            try reduction.withUnsafeMutableBufferPointer {
                try communicator.allreduceSum(UnsafeMutableBufferPointer(rebasing: $0[..<outputBucket]))
            }
            try pending!.get().wait()
            communicationTime += Date().timeIntervalSince(communicationStart)
            interval.communication += communicationTime
            communicationObserver?(communicationTime)
            step += 1
            let epoch = cursor.epoch
            cursor.chunk += 1
            if cursor.chunk == layout.stepsPerEpoch { cursor = DataCursor(epoch: cursor.epoch + 1, chunk: 0) }
            watchdog.beat()
            defer { stepObserver?(step) }

            let (nats, tokens) = (Double(reduction[n]), Double(reduction[n + 1]))
            let stopRequested = reduction[n + 2] > 0
            scale(reduction.base, count: n, by: 1 / Float(B))
            let gradientNorm = clipping.apply(reduction.base, count: n)
            guard nats.isFinite, gradientNorm.isFinite else {
                // Every rank sees the same reduced numbers, so every rank decides alike.
                badSteps += 1
                let what = nats.isFinite ? "gradient" : "loss"
                guard badSteps < config.train.maxBadSteps else {
                    let kept = lastCheckpoint > 0 ? "the last checkpoint (step \(lastCheckpoint)) is untouched" : "no checkpoint was written"
                    throw RNNDistError.runtime("step \(step): the \(what) is not finite (NaN or Inf), \(badSteps) steps in a row (train.max_bad_steps); stopped, \(kept). Try a smaller train.lr or clipping")
                        .agreed(rank: communicator.rank)
                }
                say("step \(step): the \(what) is not finite (NaN or Inf); update skipped (\(badSteps) of \(config.train.maxBadSteps) allowed in a row)")
                state.zero()  // the carried state may hold the NaN
                continue
            }
            badSteps = 0
            learningRate = config.schedule.rate(base: config.train.lr, step: step - 1, current: learningRate)
            optimizer.update(parameters, gradients: reduction, learningRate: learningRate, threads: threads)

            interval.nats += nats
            interval.tokens += tokens
            interval.steps += 1
            let now = Date()
            let elapsed = now.timeIntervalSince(start)
            let rate = Double(interval.steps * B * T) / max(now.timeIntervalSince(intervalStart), 1e-9)
            if isLeader && !quiet {
                progress.update(step: step, epoch: epoch, loss: interval.nats / max(interval.tokens, 1),
                                tokensPerSecond: rate, elapsed: elapsed)
            }
            let last = step == totalSteps
            if step % config.log.every == 0 || last || stopRequested {
                let loss = interval.nats / max(interval.tokens, 1)
                metrics?.write(["step": Double(step), "epoch": Double(epoch), "loss": loss, "bpc": loss / M_LN2,
                                "lr": learningRate, "grad_norm": gradientNorm, "tokens_per_s": rate,
                                "elapsed_s": elapsed, "comm_s": interval.communication / Double(interval.steps)])
                if !progress.isTerminal || last {
                    say("step \(step)/\(totalSteps) epoch \(epoch) loss \(format(loss, 4)) bpc \(format(loss / M_LN2, 3)) grad_norm \(format(gradientNorm, 3)) \(Progress.rate(rate)) elapsed \(Progress.duration(elapsed))")
                }
                summary.trainLoss = loss
                summary.tokensPerSecond = rate
                interval = Interval()
                intervalStart = Date()
            }
            if communicator.size > 1, step % config.train.syncCheckEvery == 0 || last {
                try checkReplicasAgree()
            }
            var improved = false
            if let every = config.log.valEvery, step % every == 0 || last, let validation = try validate() {
                metrics?.write(["step": Double(step), "val_loss": validation, "val_bpc": validation / M_LN2,
                                "val_perplexity": Foundation.exp(validation)])
                say("step \(step) validation loss \(format(validation, 4)) bpc \(format(validation / M_LN2, 3)) perplexity \(format(Foundation.exp(validation), 2))")
                let lowered = config.schedule.afterValidation(current: learningRate, previous: lastValidationLoss, latest: validation)
                if lowered != learningRate { say("validation loss went up: learning rate \(learningRate) → \(lowered)") }
                learningRate = lowered
                improved = validation < (bestValidationLoss ?? .infinity)
                if improved { bestValidationLoss = validation }
                lastValidationLoss = validation
                summary.validationLoss = validation
                drawLossPlot()
                intervalStart = Date()  // validation time is not training throughput
            }
            if isLeader && !quiet && step % config.sample.every == 0 {
                say("sample at step \(step):\n\(sample(length: config.sample.length))\n")
            }
            if step % config.checkpoint.every == 0 || last || stopRequested {
                try writeCheckpoint(isBest: improved, say: say)
                lastCheckpoint = step
            }
            if stopRequested {
                say("stopped on request at step \(step) (\(StopSignals.isRequested ? StopSignals.name : "another rank's signal")); resume with --resume auto")
                summary.stoppedBySignal = true
                break
            }
        }
        if isLeader && !quiet { progress.finish() }
        drawLossPlot()
        summary.steps = step
        summary.parameters = parameters.array
        return summary
    }

    /// Redraws the loss curves beside the metrics file (rank 0). A picture that cannot be
    /// written is not worth stopping a run for: it is only mentioned.
    func drawLossPlot() {
        guard isLeader, !quiet, let metrics = config.log.metrics else { return }
        do { try LossPlot.write(metrics: metrics, to: LossPlot.defaultOutput(for: metrics)) } catch {
            FileHandle.standardError.write(Data("rnn-dist: note: no loss plot: \(error)\n".utf8))
        }
    }

    /// Mean loss (nats per character) over the whole validation split, every rank evaluating
    /// its own streams with the state carried chunk to chunk; nil when the split is too small.
    public func validate() throws -> Double? {
        guard let layout = data.validationLayout else { return nil }
        var batch = layout.makeBatch(masked: data.validation.scoredTargets != nil)
        let carried = FlatBuffer<Float>(count: state.count)
        var nats = 0.0, tokens = 0.0
        for chunk in 0..<layout.stepsPerEpoch {
            layout.fill(&batch, step: chunk, from: data.validation)
            let loss = model.run(batch, parameters: parameters, state: carried, gradients: nil, work: work, threads: threads)
            nats += loss.nats
            tokens += Double(loss.tokens)
        }
        var sums: [Float] = [Float(nats), Float(tokens)]
        try sums.withUnsafeMutableBufferPointer { try communicator.allreduceSum($0) }
        return Double(sums[0]) / Double(max(sums[1], 1))
    }

    /// Text from the current model, primed with `sample.prime` (rank 0's random stream).
    func sample(length: Int) -> String {
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

    var modelDescription: String {
        let m = config.model
        let cell = m.cell == .rnn ? "rnn \(m.activation.rawValue)" : m.cell.rawValue
        return "\(m.layers > 1 ? "\(m.layers) × " : "")\(cell) H = \(m.hiddenSize)\(m.dropout > 0 ? " dropout \(m.dropout)" : "")"
    }

    var header: String {
        let resumed = step > 0 ? " | resumed at step \(step)" : ""
        return "rnn-dist: \(data.description): \(data.trainTokenCount) training + \(data.validationTokenCount) validation tokens, V = \(data.vocabulary.count) | \(modelDescription), \(model.layout.count) parameters | batch \(config.train.batchSize) × \(config.train.seqLength) on \(communicator.size) rank(s) × \(threads) thread(s) | \(layout.stepsPerEpoch) steps/epoch, \(totalSteps) steps\(resumed)"
    }
}
