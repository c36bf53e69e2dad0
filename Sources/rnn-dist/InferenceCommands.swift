import ArgumentParser
import Foundation
import Distributed
import Training

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate text from a checkpoint.")

    @Option(help: "A checkpoint file, or a checkpoint directory (its newest valid checkpoint; 'latest' also works).")
    var checkpoint: String
    @Option(help: "Characters (tokens) to generate.")
    var length = 500
    @Option(help: "Softmax temperature: below 1 is more conservative, above 1 more varied.")
    var temperature = 1.0
    @Option(help: "Text to start from (printed first); every character must be in the model's vocabulary.")
    var prime = ""
    @Option(name: .customLong("top-k"), help: "Draw only among the K most likely tokens.")
    var topK: Int?
    @Option(help: "Random seed: the same seed gives the same text.")
    var seed: UInt64 = 1
    @Flag(help: "Always take the most likely token (no randomness).")
    var greedy = false

    func validate() throws {
        guard length >= 0 else { throw ValidationError("--length must be >= 0") }
        guard temperature > 0 else { throw ValidationError("--temperature must be > 0 (use --greedy for the limit)") }
        if let topK, topK < 1 { throw ValidationError("--top-k must be >= 1") }
    }

    func run() throws {
        Launch.runJob(on: SingleProcess()) {
            let model = try TrainedModel(path: checkpoint)
            let text = try model.sample(prime: prime, length: length, temperature: temperature, topK: topK,
                                        greedy: greedy, seed: seed)
            print(text)
        }
    }
}

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The most likely next tokens after a text, with their probabilities.",
        discussion: "Prints one line per token, most likely first: the probability, a tab, and the token as a JSON string.")

    @Option(help: "A checkpoint file or directory.")
    var checkpoint: String
    @Option(help: "The text so far.")
    var text: String
    @Option(help: "How many tokens to list.")
    var top = 5

    func validate() throws {
        guard top >= 1 else { throw ValidationError("--top must be >= 1") }
    }

    func run() throws {
        Launch.runJob(on: SingleProcess()) {
            let model = try TrainedModel(path: checkpoint)
            let probabilities = try model.nextTokenProbabilities(after: text)
            let ranked = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(top)
            for token in ranked {
                let symbol = model.vocabulary.decode([Int32(token)])
                let quoted = String(decoding: try JSONEncoder().encode(symbol), as: UTF8.self)
                print(String(format: "%.6f", probabilities[token]) + "\t" + quoted)
            }
        }
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validation loss, bits per character and perplexity of a checkpoint, over all ranks.")

    @Argument(help: "A config whose data section (and train.batch_size, seq_length, threads) says what to evaluate on; the model comes from the checkpoint.")
    var config: String
    @Option(help: "A checkpoint file or directory.")
    var checkpoint: String
    @Option(help: ArgumentHelp("Processes to evaluate with (as for train).", valueName: "N"))
    var ranks: Int?
    @Option(name: .customLong("set"), help: "Override a config key (repeatable).")
    var overrides: [String] = []

    func run() throws {
        try Launch.run(ranks: ranks) { try evaluate(on: $0) }
    }

    func evaluate(on communicator: Communicator) throws {
        let config = try communicator.agree { try ConfigLoader.load(path: self.config, overrides: overrides) }
        let trained = try TrainedModel.load(checkpoint, on: communicator)
        let data = try TrainingData(config: config, communicator: communicator)
        let threads = config.train.threads ?? defaultThreadCount(ranksOnNode: communicator.ranksOnNode)
        guard let loss = try trained.validationLoss(on: data, communicator: communicator, threads: threads) else {
            throw RNNDistError.input("\(config.source): the validation split (\(data.validationTokenCount) tokens) is smaller than one batch; nothing to evaluate").agreed(rank: communicator.rank)
        }
        if communicator.rank == 0 {
            print("\(checkpoint): validation loss \(String(format: "%.6f", loss)) nats/char, bpc \(String(format: "%.4f", loss / M_LN2)), perplexity \(String(format: "%.4f", Foundation.exp(loss)))")
        }
    }
}

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Draw the loss curves of a metrics file as SVG.")

    @Argument(help: "A metrics file (JSON Lines) written by training.")
    var metrics: String
    @Option(name: .shortAndLong, help: "Where to write the picture (default: beside the metrics, .svg).")
    var output: String?

    func run() throws {
        Launch.runJob(on: SingleProcess()) {
            let target = output ?? LossPlot.defaultOutput(for: metrics)
            try LossPlot.write(metrics: metrics, to: target)
            print(target)
        }
    }
}
