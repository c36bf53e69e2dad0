import Foundation
import Distributed

/// Finding the checkpoint a user names, for every command that reads one (`train --resume`,
/// `sample`, `predict`, `eval`).
public enum CheckpointLookup {
    /// `request` is a checkpoint file, or a directory (its newest checkpoint that verifies; the
    /// `latest` link of a checkpoint directory works too). `option` names the flag in messages;
    /// `report` hears about each damaged checkpoint that was skipped.
    public static func find(_ request: String, option: String,
                            report: (String) -> Void) throws -> (path: String, checkpoint: Checkpoint) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: request, isDirectory: &isDirectory) else {
            throw RNNDistError.input("\(option) \(request): no such checkpoint file or directory")
        }
        guard isDirectory.boolValue else { return (request, try Checkpoint.load(path: request)) }
        guard let found = CheckpointStore(directory: request, keep: .max).newestValid(report: report) else {
            throw RNNDistError.input("\(option) \(request): no valid checkpoint in that directory")
        }
        return found
    }

    /// Runs `find` on rank 0 and hands the checkpoint it verified to every rank (its bytes, in
    /// one broadcast), so the ranks need no shared file system and read no file a second time.
    /// nil on every rank when `find` found none.
    public static func shared(by communicator: Communicator,
                              _ find: () throws -> (path: String, checkpoint: Checkpoint)?) throws -> (path: String, checkpoint: Checkpoint)? {
        // Rank 0 sends "path\0" + the checkpoint's encoding (bit-exact), or nothing. The message
        // is built in place and decoded where it lies, so that no rank holds the checkpoint more
        // than twice, as saving one does: built by concatenation and decoded from a copy, it was
        // held three and four times over while the model's memory was already allocated (a
        // resumed lstm H 1024 with Adam peaked 113 MiB above the same run started afresh; now
        // 1165–1173 MiB against its 1172, and under `-np 2` below it).
        let message: [UInt8] = try communicator.fromRoot {
            // The decoded checkpoint lives only as long as its encoding takes.
            guard let (path, encoded) = try find().map({ ($0.path, $0.checkpoint.encoded()) }) else { return [] }
            var message = [UInt8]()
            message.reserveCapacity(path.utf8.count + 1 + encoded.count)
            message.append(contentsOf: path.utf8)
            message.append(0)
            message.append(contentsOf: encoded)
            return message
        }
        guard let separator = message.firstIndex(of: 0) else { return nil }
        let path = String(decoding: message[..<separator], as: UTF8.self)
        let checkpoint = try communicator.agree {
            try message.withUnsafeBytes { bytes in
                let body = UnsafeRawBufferPointer(rebasing: bytes[(separator + 1)...])
                guard let start = body.baseAddress, body.count > 0 else { return try Checkpoint.decode(Data(), path: path) }
                let view = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: start), count: body.count, deallocator: .none)
                return try Checkpoint.decode(view, path: path)
            }
        }
        return (path, checkpoint)
    }
}
