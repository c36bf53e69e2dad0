import Foundation

/// Whether a text corpus fits in this node's memory when every rank on it reads its shard: a
/// run that would not gets one line that says to prepare a token file instead, rather than being
/// killed by the kernel (or the scheduler's memory limit) partway through loading.
public enum MemoryBudget {
    /// The bytes this node can still give: MemAvailable, or what this process's memory cgroups
    /// leave when that is less (`cgroupAvailable`: a Slurm job's `--mem`, a container's limit);
    /// nil where neither can be read. `root` prefixes every path read (tests).
    public static func available(root: String = "") -> Int? {
        var candidates: [Int] = []
        if let meminfo = try? String(contentsOfFile: root + "/proc/meminfo", encoding: .utf8),
           let kib = field("MemAvailable:", in: meminfo) {
            candidates.append(kib * 1024)
        }
        if let cgroup = cgroupAvailable(root: root) { candidates.append(cgroup) }
        return candidates.min()
    }

    /// What the memory cgroups of this process leave it: the least, over its own cgroup and
    /// each one above it that has a limit, of the limit less what the group uses, its inactive
    /// file pages left out (the kernel reclaims them before it kills). Slurm puts a job's
    /// limit on the job's cgroup and the job's steps below it, and without a cgroup namespace
    /// the hierarchy's root has no limit at all, so the process's own path
    /// (`/proc/self/cgroup`) is followed up to the root. cgroup v2 (`memory.max`) and v1
    /// (`memory.limit_in_bytes`, whose "no limit" is a number near 2⁶³); nil without a limit.
    static func cgroupAvailable(root: String = "") -> Int? {
        guard let membership = try? String(contentsOfFile: root + "/proc/self/cgroup", encoding: .utf8) else { return nil }
        var least: Int?
        for line in membership.split(separator: "\n") {
            // "0::/path" (v2) or "4:memory:/path" (v1; the controllers are a comma-separated list).
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let files: (hierarchy: String, limit: String, usage: String, inactive: String)
            if fields[1].isEmpty {
                files = (root + "/sys/fs/cgroup", "memory.max", "memory.current", "inactive_file")
            } else if fields[1].split(separator: ",").contains("memory") {
                files = (root + "/sys/fs/cgroup/memory", "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
            } else {
                continue
            }
            var directory = files.hierarchy + (fields[2] == "/" ? "" : String(fields[2]))
            while directory.hasPrefix(files.hierarchy) {
                if let limit = number(at: directory + "/" + files.limit), limit < 1 << 60,
                   let used = number(at: directory + "/" + files.usage) {
                    let stat = (try? String(contentsOfFile: directory + "/memory.stat", encoding: .utf8)) ?? ""
                    let reclaimable = field(files.inactive, in: stat) ?? 0
                    least = min(least ?? .max, max(0, limit - max(0, used - reclaimable)))
                }
                if directory == files.hierarchy { break }
                directory = (directory as NSString).deletingLastPathComponent
            }
        }
        return least
    }

    /// The number after `name` at the start of a line ("MemAvailable:  123 kB", "VmHWM:\t 123 kB",
    /// "inactive_file 456").
    private static func field(_ name: String, in text: String) -> Int? {
        text.split(separator: "\n").lazy.compactMap { line -> Int? in
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            return words.first.map(String.init) == name ? words.dropFirst().first.flatMap { Int($0) } : nil
        }.first
    }

    /// This process's peak resident memory so far (VmHWM), in MiB; NaN where it cannot be read.
    public static func peakResidentMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let kib = field("VmHWM:", in: status) else { return .nan }
        return Double(kib) / 1024
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
