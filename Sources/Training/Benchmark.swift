import Foundation
import Distributed
import Model

/// The speed benchmarks: the models users compare us on, trained for a few steps on a real
/// corpus, timed after warm-up (tokens/s = B·T·steps / wall seconds).
public enum Benchmark {
    public struct Case: Sendable {
        public let name: String
        public let description: String
        public let overrides: [String]
    }

    /// A: the Berkshire model (tanh, as the peers run it); B: a wide RNN; C: an LSTM. All with
    /// batch 64 × 50, Adagrad 0.01, clip ±5, state carried.
    public static let cases = [
        Case(name: "A", description: "rnn H 64", overrides: ["model.cell=rnn", "model.hidden_size=64"]),
        Case(name: "B", description: "rnn H 512", overrides: ["model.cell=rnn", "model.hidden_size=512"]),
        Case(name: "C", description: "lstm H 256", overrides: ["model.cell=lstm", "model.hidden_size=256"]),
    ]

    public struct Result: Sendable {
        public var tokensPerSecond: Double
        /// B·T / the median step time: steadier than the wall-clock rate on a shared machine
        /// (a neighbour's burst slows a few steps, not the median), for comparing builds.
        public var medianStepTokensPerSecond: Double
        public var gigaflops: Double
        public var vocabulary: Int
        public var peakMemoryMiB: [Double]   // per rank
        public var communicationShare: Double  // allreduce time / step time
    }

    /// FLOPs per token of forward + backward with a gathered input: 6·(gates·H² + H·V) for one
    /// layer, plus 6·gates·H² per layer above the first.
    public static func flopsPerToken(_ shape: ModelShape) -> Double {
        let (H, V, G) = (Double(shape.hidden), Double(shape.vocabulary), Double(shape.cell.gates))
        return 6 * (G * H * H + H * V) + Double(shape.layers - 1) * 12 * G * H * H
    }

    public static func run(_ benchmark: Case, corpus: String, steps: Int, warmup: Int, threads: Int?,
                           communicator: Communicator) throws -> Result {
        // As many epochs as the steps need: `max_steps` alone decides where the run ends.
        var overrides = benchmark.overrides + [
            "data.path=\(corpus)", "model.activation=tanh", "train.batch_size=64", "train.seq_length=50",
            "train.optimizer=adagrad", "train.lr=0.01", "train.clip_value=5", "train.max_steps=\(warmup + steps)",
            "train.epochs=\(warmup + steps)", "log.val_every=null", "log.metrics=null", "train.sync_check_every=1000000",
        ]
        if let threads { overrides.append("train.threads=\(threads)") }
        let config = try ConfigLoader.decode(.object([:]), source: "bench \(benchmark.name)", name: "bench",
                                             overrides: overrides)
        let trainer = try Trainer(config: config, communicator: communicator)
        let timer = StepTimer(warmup: warmup)
        _ = try trainer.run(observers: [timer])
        let seconds = Date().timeIntervalSince(timer.start)
        let tokensPerStep = Double(config.train.batchSize * config.train.seqLength)
        let rate = Double(timer.timedSteps) * tokensPerStep / seconds
        var memory = [Double](repeating: 0, count: communicator.size)
        memory[communicator.rank] = MemoryBudget.peakResidentMiB()
        var floats = memory.map(Float.init)
        try floats.withUnsafeMutableBufferPointer { try communicator.allreduceSum($0) }
        let stepSeconds = zip(timer.stepEnds.dropFirst(), timer.stepEnds).map { $0.timeIntervalSince($1) }.sorted()
        let median = stepSeconds.isEmpty ? seconds / Double(max(timer.timedSteps, 1)) : stepSeconds[stepSeconds.count / 2]
        return Result(tokensPerSecond: rate, medianStepTokensPerSecond: tokensPerStep / median,
                      gigaflops: rate * flopsPerToken(trainer.model.shape) / 1e9,
                      vocabulary: trainer.model.shape.vocabulary,
                      peakMemoryMiB: floats.map(Double.init), communicationShare: timer.communication / seconds)
    }

    /// Times the steps after the warm-up: when each ended and how long each waited for the
    /// other ranks.
    final class StepTimer: TrainingObserver {
        let warmup: Int
        var start = Date()
        var stepEnds: [Date] = []
        var communication = 0.0
        var timedSteps = 0

        init(warmup: Int) { self.warmup = warmup }

        func stepFinished(_ event: StepEvent, trainer: Trainer) {
            if event.step == warmup { start = Date() }
            guard event.step >= warmup else { return }
            stepEnds.append(Date())
            if event.step > warmup {
                timedSteps += 1
                communication += event.communicationSeconds
            }
        }
    }
}
