import ArgumentParser
import Foundation
import Distributed
import Kernels
import Training

@main
struct RNNDist: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rnn-dist",
        abstract: "Train recurrent language models, data-parallel over MPI.",
        discussion: """
            Exit status: 0 done, 2 bad usage, config or input, 1 any other failure.
            Examples:
              rnn-dist configs/shakespeare.json --ranks 1
              rnn-dist configs/berkshire.json --set train.max_steps=300 --set model.activation=tanh
              rnn-dist sample --checkpoint checkpoints/berkshire/latest --length 500 --temperature 0.8
            """,
        subcommands: [Train.self, Prepare.self, Sample.self, Predict.self, Eval.self, Plot.self, Export.self, Bench.self],
        defaultSubcommand: Train.self)

    /// Runs the command, turning every failure into one line on standard error and the exit
    /// status the README gives (ArgumentParser's own usage errors included: 2, not 64).
    static func main() {
        do {
            var command = try parseAsRoot()
            // RNN_DIST_KERNEL asking for a path this build or CPU cannot run (or a build for a
            // wider CPU than this one): one line and exit 2, before any kernel runs.
            if !(command is Plot), case .failure(let error) = KernelPath.selection { fail(error.message, code: 2) }
            try command.run()
        } catch let error as RNNDistError {
            fail(error.message, code: error.exitCode)
        } catch {
            if exitCode(for: error) == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            fail(message(for: error) + " (see rnn-dist --help)", code: 2)
        }
    }

    static func fail(_ message: String, code: Int32) -> Never {
        Console.err("rnn-dist: error: \(message)\n")
        Foundation.exit(code)
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train a model described by a JSON config (the default command).")

    @Argument(help: "The JSON config (sections data, model, train, checkpoint, sample, log).")
    var config: String

    @Option(help: ArgumentHelp("Processes to train with: 1 runs in this process, no MPI needed; N > 1 starts mpirun -np N. Under mpirun the count comes from MPI.",
                               valueName: "N"))
    var ranks: Int?

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a config key, e.g. --set train.lr=0.02 (repeatable).",
                                                        valueName: "section.key=value"))
    var overrides: [String] = []

    @Option(help: ArgumentHelp("Continue from a checkpoint: 'auto' (the newest valid one in checkpoint.dir, or a fresh start when there is none), a checkpoint file, or a directory (its newest valid checkpoint).",
                               valueName: "auto|PATH"))
    var resume: String?

    @Option(name: .customLong("init-from"),
            help: ArgumentHelp("Fine-tune: start a new run (step 0, the config's data, a fresh optimizer unless train.keep_optimizer) from the parameters of a checkpoint file or directory. The model and vocabulary must match the config's.",
                               valueName: "PATH"))
    var initFrom: String?

    @Option(help: .hidden)
    var dumpParameters: String?

    func validate() throws {
        if let ranks, ranks < 1 { throw ValidationError("--ranks must be at least 1 (got \(ranks))") }
    }

    func run() throws {
        try Launch.run(ranks: ranks) { try train(on: $0) }
    }

    func train(on communicator: Communicator) throws {
        let config = try communicator.agree { try ConfigLoader.load(path: self.config, overrides: overrides) }
        // Under mpirun a rank's stdout is a pseudo-terminal even in a batch job: plain lines there.
        let interactive = isatty(STDOUT_FILENO) == 1 && !Launch.isUnderMPILauncher
        StopSignals.install()
        let trainer = try Trainer(config: config, communicator: communicator, resume: resume, initFrom: initFrom)
        let summary = try trainer.run(observers: try trainer.standardObservers(interactive: interactive))
        if let directory = dumpParameters {
            try writeParameters(summary.parameters, to: "\(directory)/rank-\(communicator.rank).f32")
        }
    }

    /// The final parameters as raw little-endian floats: tests compare replicas bit for bit.
    func writeParameters(_ parameters: [Float], to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        let data = parameters.withUnsafeBufferPointer { Data(buffer: $0) }
        guard FileManager.default.createFile(atPath: path, contents: data) else {
            throw RNNDistError.runtime("\(path): cannot write the parameters")
        }
    }
}
