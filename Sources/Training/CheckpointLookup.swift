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
        // Rank 0 sends "path\0" + the checkpoint's encoding (bit-exact), or nothing.
        let message: [UInt8] = try communicator.fromRoot {
            guard let (path, checkpoint) = try find() else { return [] }
            return Array(path.utf8) + [0] + Array(checkpoint.encoded())
        }
        guard let separator = message.firstIndex(of: 0) else { return nil }
        let path = String(decoding: message[..<separator], as: UTF8.self)
        let checkpoint = try communicator.agree { try Checkpoint.decode(Data(message[(separator + 1)...]), path: path) }
        return (path, checkpoint)
    }
}
