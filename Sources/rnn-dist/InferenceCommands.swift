import ArgumentParser
import Foundation
import Distributed
import Model
import Training

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a checkpoint, printed as it is generated.",
        discussion: """
            Draws from the model (--temperature, --top-k), takes the most likely token (--greedy), or searches for \
            the most likely text (--beam). --count N prints N samples, each under a line '--- sample i of N ---' \
            (the first as it is drawn, the others when all end); --json prints one object a sample instead. \
            Everything a sample cannot stream (--json, samples after the first, a beam's history) is held in \
            memory, at most 1 GiB; plain sampling runs any --length until it ends, is killed or its reader \
            closes the pipe.
            """)

    @Option(help: "A checkpoint file, or a checkpoint directory (its newest valid checkpoint; 'latest' also works).")
    var checkpoint: String
    @Option(help: "Tokens (characters, bytes or words) to generate after the prime.")
    var length = 500
    @Option(help: "Softmax temperature, > 0: below 1 is more conservative, above 1 more varied [default: 1].")
    var temperature: Double?
    @Option(help: "Text to start from (printed first); every character must be in the model's vocabulary.")
    var prime = ""
    @Option(name: .customLong("top-k"), help: "Draw only among the K most likely tokens.")
    var topK: Int?
    @Option(help: "Random seed: the same seed gives the same text.")
    var seed: UInt64 = 1
    @Flag(help: "Always take the most likely token (no randomness).")
    var greedy = false
    @Option(help: "How many samples to draw, side by side in one batched pass.")
    var count = 1
    @Option(help: ArgumentHelp("Beam search of width K: the most likely continuation of --length tokens it finds (with --count N ≤ K, the N best).", valueName: "K"))
    var beam: Int?
    @Option(help: ArgumentHelp("End a sample at the first occurrence of TEXT in its generated part (not printed; repeatable; a newline is $'\\n' in bash).", valueName: "TEXT"))
    var stop: [String] = []
    @Flag(help: "After each sample, its total log-probability under the model (natural log, the prime excluded) and token count.")
    var showLogprob = false
    @Flag(help: "One JSON object per sample and line: sample, prime, text, tokens, stopped (and logprob).")
    var json = false

    /// What a sampling run may hold in memory at once.
    static let memoryLimit = 1 << 30

    func validate() throws {
        guard length >= 0 else { throw ValidationError("--length must be >= 0") }
        if let temperature, !(temperature.isFinite && temperature > 0) {
            throw ValidationError("--temperature must be a finite number > 0 (got \(temperature); --greedy is the limit at 0)")
        }
        if let topK, topK < 1 { throw ValidationError("--top-k must be >= 1 (leave it out to draw from every token)") }
        guard count >= 1 else { throw ValidationError("--count must be >= 1") }
        if let beam {
            guard beam >= 1 else { throw ValidationError("--beam must be >= 1") }
            guard count <= beam else { throw ValidationError("--count \(count) is more than --beam \(beam): a beam search has \(beam) hypotheses to show") }
            guard !greedy && topK == nil && temperature == nil else {
                throw ValidationError("--beam searches for the most likely text; --greedy, --temperature and --top-k do not apply to it")
            }
        }
        if stop.contains("") { throw ValidationError("--stop must not be empty") }
    }

    var request: TrainedModel.SampleRequest {
        TrainedModel.SampleRequest(prime: prime, length: length, count: count,
                                   decoding: greedy ? .greedy : .sample(temperature: temperature ?? 1, topK: topK),
                                   beam: beam, seed: seed, stops: stop)
    }

    func run() throws {
        Launch.runJob(on: SingleProcess()) {
            let model = try TrainedModel(path: checkpoint)
            try checkMemory(of: model)
            let output = StandardOutput()
            do {
                try write(samplesOf: model, to: output)
            } catch is StandardOutput.Closed {
                // The reader has gone (`| head`): the sample is over, and that is not a failure.
            }
        }
    }

    /// Refuses, in one line, a run that would hold more than `memoryLimit`: the rows sampled
    /// side by side, the tokens of the samples that wait to be printed, a beam's history.
    func checkMemory(of model: TrainedModel) throws {
        let rows = beam ?? count
        let waiting = json ? count : count - 1            // samples held until all end
        let perToken = 16                                 // bytes of text or beam history a token, at most
        var bytes = rows.multipliedReportingOverflow(by: Sampler<Float>.bytesPerRow(shape: model.model.shape))
        for held in [waiting, beam ?? 0] where !bytes.overflow {
            let tokens = held.multipliedReportingOverflow(by: length)
            let heldBytes = tokens.partialValue.multipliedReportingOverflow(by: perToken)
            let sum = bytes.partialValue.addingReportingOverflow(heldBytes.partialValue)
            bytes = (sum.partialValue, tokens.overflow || heldBytes.overflow || sum.overflow)
        }
        guard bytes.overflow || bytes.partialValue > Self.memoryLimit else { return }
        let asked = ["--length \(length)"] + (count > 1 ? ["--count \(count)"] : []) + (beam.map { ["--beam \($0)"] } ?? []) + (json ? ["--json"] : [])
        let amount = bytes.overflow ? "over 8 EiB" : String(format: "%.1f GiB", Double(bytes.partialValue) / Double(1 << 30))
        let knobs = ["--length"] + (count > 1 ? ["--count"] : []) + (beam != nil ? ["--beam"] : [])
        let lower = knobs.dropLast().joined(separator: ", ") + (knobs.count > 1 ? " or " : "") + knobs.last!
        let streaming = beam == nil ? "; one sample without --json streams any length" : ""
        throw RNNDistError.input("\(asked.joined(separator: " ")) would hold \(amount) at once, more than the 1 GiB sampling may: lower \(lower)\(streaming)")
    }

    /// The samples as text (the first as it is generated) or as JSON lines (when all end).
    func write(samplesOf model: TrainedModel, to output: StandardOutput) throws {
        let prime = try model.primeText(self.prime)
        let shown = model.sampleCount(request)
        let header = { (i: Int) in shown > 1 ? "--- sample \(i + 1) of \(shown) ---\n" : "" }
        var held = Array(repeating: [UInt8](), count: shown)
        if !json { try output.write(header(0) + prime) }
        let summaries = try model.sample(request) { sample, bytes in
            if sample == 0 && !json { try output.write(bytes) } else { held[sample] += bytes }
        }
        for (i, summary) in summaries.enumerated() {
            let text = String(decoding: held[i], as: UTF8.self)
            if json {
                var fields: [(String, JSONField)] = [("sample", .int(i + 1)), ("prime", .string(prime)), ("text", .string(text)),
                                                     ("tokens", .int(summary.tokens)), ("stopped", .bool(summary.stopped))]
                if showLogprob { fields.append(("logprob", .number(summary.logprob))) }
                try output.write(JSONField.line(fields))
            } else {
                try output.write((i == 0 ? "" : header(i) + prime + text) + "\n")
                if showLogprob {
                    try output.write("logprob " + String(format: "%.6f", summary.logprob) + " over \(summary.tokens) tokens\n")
                }
            }
        }
    }
}

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The most likely next tokens after a text, with their probabilities.",
        discussion: "Prints one line per token, most likely first: the probability, a tab, and the token as a JSON string; with --json, one object per line: token, id, probability, logprob.")

    @Option(help: "A checkpoint file or directory.")
    var checkpoint: String
    @Option(help: "The text so far.")
    var text: String
    @Option(help: "How many tokens to list (at most the vocabulary).")
    var top = 5
    @Flag(help: "One JSON object per token and line.")
    var json = false

    func validate() throws {
        guard top >= 1 else { throw ValidationError("--top must be >= 1") }
    }

    func run() throws {
        Launch.runJob(on: SingleProcess()) {
            let model = try TrainedModel(path: checkpoint)
            let logprobs = try model.nextTokenLogProbabilities(after: text)
            let ranked = logprobs.indices.sorted { logprobs[$0] > logprobs[$1] }.prefix(top)
            let output = StandardOutput()
            do {
                for token in ranked {
                    let symbol = model.vocabulary.decode([Int32(token)])
                    let probability = Foundation.exp(logprobs[token])
                    if json {
                        try output.write(JSONField.line([("token", .string(symbol)), ("id", .int(token)),
                                                         ("probability", .number(probability)), ("logprob", .number(logprobs[token]))]))
                    } else {
                        try output.write(String(format: "%.6f", probability) + "\t" + JSONField.string(symbol).text + "\n")
                    }
                }
            } catch is StandardOutput.Closed {}
        }
    }
}

/// A value of a JSON Lines record, and the record: one object on one line, its keys in the
/// order given (so a reader's eye finds them where it expects).
enum JSONField {
    case string(String), int(Int), number(Double), bool(Bool)

    var text: String {
        switch self {
        case .string(let value):
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.withoutEscapingSlashes]
            return String(decoding: try! encoder.encode(value), as: UTF8.self)
        case .int(let value): return String(value)
        case .number(let value): return value.isFinite ? "\(value)" : "null"
        case .bool(let value): return String(value)
        }
    }

    static func line(_ fields: [(String, JSONField)]) -> String {
        "{" + fields.map { JSONField.string($0.0).text + ":" + $0.1.text }.joined(separator: ",") + "}\n"
    }
}

/// Standard output written straight to the file descriptor, each piece at once: a terminal or
/// a pipe sees a sample as it is generated. A reader that has gone (EPIPE; SIGPIPE is ignored
/// so that it arrives as an error) ends the writing with `Closed`; any other failure is an error.
final class StandardOutput {
    struct Closed: Error {}

    init() { signal(SIGPIPE, SIG_IGN) }

    func write(_ text: String) throws { try write(Array(text.utf8)) }

    func write(_ bytes: [UInt8]) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Foundation.write(STDOUT_FILENO, $0.baseAddress! + done, bytes.count - done) }
            if n >= 0 { done += n; continue }
            switch errno {
            case EINTR, EAGAIN: continue
            case EPIPE: throw Closed()
            default: throw RNNDistError.runtime("standard output: \(String(cString: strerror(errno)))")
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
