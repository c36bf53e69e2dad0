import Foundation

/// Whether a text corpus fits in this node's memory when every rank on it reads its shard: a
/// run that would not gets one line that says to prepare a token file instead, rather than being
/// killed by the kernel (or the scheduler's memory limit) partway through loading.
public enum MemoryBudget {
    /// The bytes this node can still give: MemAvailable, or what the cgroup's memory limit
    /// leaves when that is less (a Slurm job's); nil where neither can be read.
    public static func available() -> Int? {
        var candidates: [Int] = []
        if let meminfo = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = meminfo.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kib = Int(line.split(separator: " ").dropFirst().first ?? "") {
            candidates.append(kib * 1024)
        }
        if let limit = number(at: "/sys/fs/cgroup/memory.max"), let used = number(at: "/sys/fs/cgroup/memory.current") {
            candidates.append(max(0, limit - used))
        }
        return candidates.min()
    }

    /// This process's peak resident memory so far (VmHWM), in MiB; NaN where it cannot be read.
    public static func peakResidentMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kib = Double(line.split(separator: " ").dropFirst().first ?? "") else { return .nan }
        return kib / 1024
    }

    private static func number(at path: String) -> Int? {
        (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Throws when `perRank` bytes on each of `ranksOnNode` ranks exceed `available`.
    public static func check(perRank: Int, ranksOnNode: Int, available: Int? = MemoryBudget.available(),
                             corpus: String, config: String) throws {
        guard let available, perRank * ranksOnNode > available else { return }
        func gib(_ bytes: Int) -> String { String(format: "%.1f GiB", Double(bytes) / Double(1 << 30)) }
        let ranks = ranksOnNode > 1 ? " × \(ranksOnNode) ranks on this node" : ""
        throw RNNDistError.input("\(corpus): training from this text needs about \(gib(perRank)) per rank\(ranks), more than the \(gib(available)) available; prepare a token file once (rnn-dist prepare \(config)) and train from it (--set data.path=\(corpus)\(TokenFile.suffix)): its ranks read a few MiB at a time")
    }
}
