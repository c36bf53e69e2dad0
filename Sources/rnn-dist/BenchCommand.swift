import ArgumentParser
import Foundation
import Distributed
import Kernels
import Training

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training speed on the benchmark models A (rnn H 64), B (rnn H 512), C (lstm H 256).",
        discussion: """
            First prints, on stderr, the kernel path in use and why (`kernels: avx2 (...)`; RNN_DIST_KERNEL=avx512|avx2|neon|generic forces one). \
            Then one JSON object per model: tokens/s after warm-up, achieved GFLOP/s, peak memory per rank, and the share of time in the allreduce. \
            launch/bench.sh runs it beside the PyTorch (one-hot and embedding input) and numpy peers and prints the ratios.
            """)

    @Option(help: "The corpus to train on (any text; speed does not depend on it).")
    var data = "data/tinyshakespeare.txt"
    @Option(help: "Which models, comma-separated.")
    var models = "A,B,C"
    @Option(help: "Timed steps per model (at least 1).")
    var steps = 30
    @Option(help: "Untimed steps first (0 or more).")
    var warmup = 5
    @Option(help: "Threads per rank (default: cores / ranks on the node).")
    var threads: Int?
    @Option(help: ArgumentHelp("Processes, as for train.", valueName: "N"))
    var ranks: Int?
    @Flag(help: "Time the matrix products of model B alone instead, and the tile ceiling (the micro-kernel with its operands in L1): GFLOP/s with 1 and 2 threads.")
    var kernels = false

    func validate() throws {
        if steps < 1 { throw ValidationError("--steps must be at least 1 (got \(steps))") }
        if warmup < 0 { throw ValidationError("--warmup must be 0 or more (got \(warmup))") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1 (got \(threads))") }
        if let ranks, ranks < 1 { throw ValidationError("--ranks must be at least 1 (got \(ranks))") }
    }

    /// Set for the ranks of an mpirun this command starts, so the kernels line is printed once.
    static let announcedVariable = "RNN_DIST_KERNELS_ANNOUNCED"

    func run() throws {
        announceKernels()
        if kernels {
            let tile = tileShape()
            for threads in [1, 2] {
                for (shape, rate) in KernelBenchmark.run(threads: threads) {
                    print(String(format: "%d thread(s)  %-30@ %5d × %4d × %4d  %6.1f GFLOP/s", threads, shape.name as NSString,
                                 shape.m, shape.n, shape.k, rate))
                }
                print(String(format: "%d thread(s)  %-30@ %5d × %4d × %4d  %6.1f GFLOP/s", threads,
                             "tile ceiling (operands in L1)" as NSString, tile.rows, tile.columns, tile.kc,
                             tileCeiling(threads: threads)))
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
                    print(String(format: "{\"model\":\"%@\",\"description\":\"%@\",\"ranks\":%d,\"vocabulary\":%d,\"tokens_per_s\":%.0f,\"tokens_per_s_median_step\":%.0f,\"gflops\":%.1f,\"peak_mib_per_rank\":[%@],\"allreduce_share\":%.4f,\"kernels\":\"%@\"}",
                                 benchmark.name, benchmark.description, communicator.size, result.vocabulary, result.tokensPerSecond,
                                 result.medianStepTokensPerSecond,
                                 result.gigaflops, memory, result.communicationShare, KernelPath.current.rawValue))
                }
            }
        }
    }

    /// `kernels: <path> (why)` on stderr, once per invocation: by this process, or under a
    /// launcher by rank 0 (unless this command started the launcher and said it already).
    func announceKernels() {
        let environment = ProcessInfo.processInfo.environment
        if Launch.isUnderMPILauncher {
            let rank = ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"].lazy.compactMap { environment[$0] }.first
            guard environment[Self.announcedVariable] == nil, rank == nil || rank == "0" else { return }
        }
        // RNNDist.main checked the selection before any command ran.
        guard case .success(let choice) = KernelPath.selection else { return }
        FileHandle.standardError.write(Data("\(choice.description)\n".utf8))
        setenv(Self.announcedVariable, "1", 1)
    }
}
