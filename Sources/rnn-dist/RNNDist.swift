import ArgumentParser
import Foundation
import Distributed
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
            """,
        subcommands: [Train.self],
        defaultSubcommand: Train.self)

    /// Runs the command, turning every failure into one line on standard error and the exit
    /// status of SPEC §7 (ArgumentParser's own usage errors included: 2, not 64).
    static func main() {
        do {
            var command = try parseAsRoot()
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
        FileHandle.standardError.write(Data("rnn-dist: error: \(message)\n".utf8))
        Foundation.exit(code)
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train a model described by a JSON config (the default command).")

    @Argument(help: "The JSON config (sections data, model, train, checkpoint, sample, log).")
    var config: String

    @Option(help: "Processes to train with. 1 runs in this process, no MPI launcher needed.")
    var ranks: Int = 1

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a config key, e.g. --set train.lr=0.02 (repeatable).",
                                                        valueName: "section.key=value"))
    var overrides: [String] = []

    func validate() throws {
        guard ranks >= 1 else { throw ValidationError("--ranks must be at least 1 (got \(ranks))") }
    }

    func run() throws {
        guard ranks == 1 else {
            throw RNNDistError.input("--ranks \(ranks): multi-rank training is not in this build yet; use --ranks 1")
        }
        let config = try ConfigLoader.load(path: self.config, overrides: overrides)
        let trainer = try Trainer(config: config, communicator: SingleProcess())
        _ = try trainer.run()
    }
}
