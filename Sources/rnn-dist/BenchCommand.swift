import ArgumentParser
import Foundation
import Distributed
import Training

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training speed on the benchmark models A (rnn H 64), B (rnn H 512), C (lstm H 256).",
        discussion: "Prints one JSON object per model: tokens/s after warm-up, achieved GFLOP/s, peak memory per rank, and the share of time in the allreduce. launch/bench.sh runs it beside the PyTorch and numpy peers.")

    @Option(help: "The corpus to train on (any text; speed does not depend on it).")
    var data = "data/tinyshakespeare.txt"
    @Option(help: "Which models, comma-separated.")
    var models = "A,B,C"
    @Option(help: "Timed steps per model.")
    var steps = 30
    @Option(help: "Untimed steps first.")
    var warmup = 5
    @Option(help: "Threads per rank (default: cores / ranks on the node).")
    var threads: Int?
    @Option(help: ArgumentHelp("Processes, as for train.", valueName: "N"))
    var ranks: Int?
    @Flag(help: "Time the matrix products of model B alone instead (GFLOP/s with 1 and 2 threads).")
    var kernels = false

    func run() throws {
        if kernels {
            for threads in [1, 2] {
                for (shape, rate) in KernelBenchmark.run(threads: threads) {
                    print(String(format: "%d thread(s)  %-30@ %5d × %4d × %4d  %6.1f GFLOP/s", threads, shape.name as NSString,
                                 shape.m, shape.n, shape.k, rate))
                }
            }
            return
        }
        try Launch.run(ranks: ranks) { communicator in
            for name in models.split(separator: ",") {
                guard let benchmark = Benchmark.cases.first(where: { $0.name == name.trimmingCharacters(in: .whitespaces) }) else {
                    throw RNNDistError.input("--models: unknown model '\(name)' (A, B or C)").agreed(rank: communicator.rank)
                }
                let result = try Benchmark.run(benchmark, corpus: data, steps: steps, warmup: warmup, threads: threads,
                                               communicator: communicator)
                if communicator.rank == 0 {
                    let memory = result.peakMemoryMiB.map { String(format: "%.1f", $0) }.joined(separator: ",")
                    print(String(format: "{\"model\":\"%@\",\"description\":\"%@\",\"ranks\":%d,\"vocabulary\":%d,\"tokens_per_s\":%.0f,\"tokens_per_s_median_step\":%.0f,\"gflops\":%.1f,\"peak_mib_per_rank\":[%@],\"allreduce_share\":%.4f}",
                                 benchmark.name, benchmark.description, communicator.size, result.vocabulary, result.tokensPerSecond,
                                 result.medianStepTokensPerSecond,
                                 result.gigaflops, memory, result.communicationShare))
                }
            }
        }
    }
}
