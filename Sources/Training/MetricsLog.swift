import Foundation

/// The metrics file: one JSON object per line, training lines
/// {step, epoch, loss, bpc, lr, grad_norm, tokens_per_s, elapsed_s, comm_s (seconds per step in
/// the allreduce), peak_rss_mib (rank 0's peak resident memory so far)} and validation lines
/// {step, val_loss, val_bpc, val_perplexity}, and {step, stopped: 1} after the step a run stops
/// at before its planned end. Losses are nats per character.
public final class MetricsLog {
    private let handle: FileHandle
    public let path: String

    /// A new metrics file, or — for a run resumed at step `resumedAt` > 0 — the existing one
    /// with its lines up to that step kept (a line of a later step came from a run that
    /// stopped after its last checkpoint; the resumed run writes it again).
    public init(path: String, resumedAt: Int = 0) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw RNNDistError.input("\(path): cannot create the metrics directory (\(error.localizedDescription))")
        }
        let kept = resumedAt > 0 ? Self.lines(of: path, throughStep: resumedAt) : ""
        guard FileManager.default.createFile(atPath: path, contents: Data(kept.utf8)),
              let handle = FileHandle(forWritingAtPath: path) else {
            throw RNNDistError.input("\(path): cannot write the metrics file")
        }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    /// The lines of an existing metrics file whose step is at most `step`.
    static func lines(of path: String, throughStep step: Int) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "" }
        return text.split(separator: "\n").filter { line in
            guard let object = try? JSONValue.parse(Data(line.utf8)), case .object(let fields) = object,
                  case .number(let lineStep)? = fields["step"] else { return false }
            return lineStep <= Double(step)
        }.map { $0 + "\n" }.joined()
    }

    deinit { try? handle.close() }

    public func write(_ fields: KeyValuePairs<String, Double>) {
        let body = fields.map { key, value in
            let number: String
            if !value.isFinite { number = "null" }
            else if value == value.rounded() && abs(value) < 1e15 { number = String(Int(value)) }
            else { number = String(value) }
            return "\"\(key)\":\(number)"
        }
        handle.write(Data(("{" + body.joined(separator: ",") + "}\n").utf8))
    }
}
