import ArgumentParser
import Foundation
import Distributed
import Training

struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tokenize a corpus once into a token file that training reads instead of the text.",
        discussion: """
            Reads the corpus of CONFIG's data.path with CONFIG's tokenizer (in bounded memory) and writes \
            its tokens, vocabulary and checksums to a token file. Point data.path at that file to train: \
            every rank then reads only its own shard, and start-up does not grow with the corpus.
            """)

    @Argument(help: "The JSON config whose data section (path, tokenizer, vocab_size, val_fraction) says what to prepare.")
    var config: String

    @Option(help: ArgumentHelp("The token file to write (default: the corpus path with .tokens appended).", valueName: "FILE"))
    var output: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a config key, e.g. --set data.tokenizer=word (repeatable).",
                                                        valueName: "section.key=value"))
    var overrides: [String] = []

    func run() throws {
        Launch.runJob(on: SingleProcess()) {
            let config = try ConfigLoader.load(path: self.config, overrides: overrides)
            let bar = PrepareProgress(isTerminal: isatty(STDOUT_FILENO) == 1)
            let summary = try Preparation.run(config: config, output: output, progress: bar.update)
            bar.finish()
            let h = summary.header
            let megabytes = Double(h.source.size) / 1e6
            print("prepared \(summary.path): \(h.tokens) \(h.tokenizer) tokens (V = \(h.vocabulary), \(h.tokenWidth) byte\(h.tokenWidth > 1 ? "s" : "") each) from \(String(format: "%.1f", megabytes)) MB of text in \(String(format: "%.1f", summary.seconds)) s (\(String(format: "%.0f", summary.bytesPerSecond / 1e6)) MB/s)")
            if let counts = h.wordCounts, counts != "exact" { print("note: word counts \(counts)") }
            print("train from it with: --set data.path=\(summary.path)")
        }
    }
}

/// The live line of `prepare` on a terminal: phase, bar, bytes and rate, redrawn at most ten
/// times a second. Nothing in a batch log.
final class PrepareProgress {
    let isTerminal: Bool
    private let start = Date()
    private var lastDraw = Date.distantPast
    private var drawn = false

    init(isTerminal: Bool) { self.isTerminal = isTerminal }

    func update(phase: String, done: Int, total: Int) {
        guard isTerminal else { return }
        let now = Date()
        guard done == total || now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        let fraction = Double(done) / Double(max(total, 1))
        let filled = Int(fraction * 24)
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: 24 - filled)
        let rate = Double(done) / max(now.timeIntervalSince(start), 1e-9) / 1e6
        let text = "\r\(bar) \(phase) \(Int(fraction * 100))% \(String(format: "%.0f", rate)) MB/s\u{1B}[K"
        FileHandle.standardOutput.write(Data(text.utf8))
        drawn = true
    }

    func finish() {
        if drawn { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)) }
    }
}
