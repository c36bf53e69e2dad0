import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The checkpoint directory: `ckpt-<step>.rnnd` files, the newest `keep` of them
/// kept, `best.rnnd` (a hard link to the checkpoint with the lowest validation loss, so it
/// outlives pruning) and `latest` (a symbolic link to the newest).
///
/// Every file appears atomically: written to a temporary name, fsynced, renamed, and the
/// directory fsynced, so a crash or a full disk at any instant leaves the previous checkpoint
/// intact and every `ckpt-*` name a complete file.
public struct CheckpointStore {
    public let directory: String
    public let keep: Int

    public init(directory: String, keep: Int) {
        self.directory = directory
        self.keep = keep
    }

    public func path(step: Int) -> String { "\(directory)/" + String(format: "ckpt-%08d.rnnd", step) }

    /// Writes `checkpoint`, points `latest` at it (and `best.rnnd` when `isBest`), and prunes
    /// the old ones. Returns its path.
    @discardableResult
    public func write(_ checkpoint: Checkpoint, isBest: Bool) throws -> String {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw RNNDistError.runtime("\(directory): cannot create the checkpoint directory (\(error.localizedDescription))")
        }
        let target = path(step: checkpoint.header.step)
        try writeAtomically(checkpoint.encoded(), to: target)
        try replace("\(directory)/latest", with: { link in symlink((target as NSString).lastPathComponent, link) })
        if isBest { try replace("\(directory)/best.rnnd", with: { link(target, $0) }) }
        try syncDirectory()
        for old in checkpointFiles().dropFirst(keep) { unlink(old) }
        return target
    }

    /// The `ckpt-*` files, newest (highest step) first.
    public func checkpointFiles() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix("ckpt-") && $0.hasSuffix(".rnnd") }.sorted(by: >).map { "\(directory)/\($0)" }
    }

    /// The newest checkpoint that loads; each one that does not is reported and skipped.
    public func newestValid(report: (String) -> Void) -> (path: String, checkpoint: Checkpoint)? {
        for file in checkpointFiles() {
            do { return (file, try Checkpoint.load(path: file)) } catch {
                report("\(error); skipped")
            }
        }
        return nil
    }

    private func writeAtomically(_ data: Data, to target: String) throws {
        let temporary = "\(directory)/.\((target as NSString).lastPathComponent).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw failure("cannot create \(temporary)") }
        var written = 0
        let ok = data.withUnsafeBytes { bytes -> Bool in
            while written < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + written, bytes.count - written)
                if n <= 0 { return false }
                written += n
            }
            return fsync(fd) == 0
        }
        let error = failure("cannot write \(target)")
        close(fd)
        guard ok else {
            unlink(temporary)
            throw error
        }
        guard rename(temporary, target) == 0 else {
            let error = failure("cannot rename \(temporary) to \(target)")
            unlink(temporary)
            throw error
        }
    }

    /// Makes `name` by `create(temporaryName)` then renames it over `name` (atomic replace).
    private func replace(_ name: String, with create: (String) -> Int32) throws {
        let temporary = "\(name).tmp"
        unlink(temporary)
        guard create(temporary) == 0, rename(temporary, name) == 0 else {
            let error = failure("cannot update \(name)")
            unlink(temporary)
            throw error
        }
    }

    private func syncDirectory() throws {
        let fd = open(directory, O_RDONLY)
        guard fd >= 0 else { throw failure("cannot open \(directory)") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw failure("cannot sync \(directory)") }
    }

    private func failure(_ what: String) -> RNNDistError {
        .runtime("\(what): \(String(cString: strerror(errno))); the previous checkpoint is intact")
    }
}
