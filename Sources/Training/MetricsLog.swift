import Foundation

/// The metrics file: one JSON object per line, training lines
/// {step, epoch, loss, bpc, lr, grad_norm, tokens_per_s, elapsed_s, comm_s (seconds per step in
/// the allreduce)} and validation lines
/// {step, val_loss, val_bpc, val_perplexity}. Losses are nats per character.
public final class MetricsLog {
    private let handle: FileHandle
    public let path: String

    public init(path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw RNNDistError.input("\(path): cannot create the metrics directory (\(error.localizedDescription))")
        }
        guard FileManager.default.createFile(atPath: path, contents: nil),
              let handle = FileHandle(forWritingAtPath: path) else {
            throw RNNDistError.input("\(path): cannot write the metrics file")
        }
        self.handle = handle
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
