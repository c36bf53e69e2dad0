import Foundation

/// Threads per rank when `train.threads` is not set: the cores of the node shared among the
/// ranks on it (so `-np 4` on 4 cores does not oversubscribe), and never more than the CPUs this
/// process may run on (a rank that mpirun bound to one core gets one thread).
public func defaultThreadCount(ranksOnNode: Int) -> Int {
    let perRank = ProcessInfo.processInfo.activeProcessorCount / max(1, ranksOnNode)
    return max(1, min(perRank, allowedCPUCount() ?? perRank))
}

/// How many CPUs the scheduler lets this process use (its affinity mask, from the
/// `Cpus_allowed` line of /proc/self/status), or nil where that cannot be read.
func allowedCPUCount() -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") })
    else { return nil }
    let mask = line.dropFirst("Cpus_allowed:".count).filter { $0.isHexDigit }
    let count = mask.reduce(0) { $0 + (Int(String($1), radix: 16) ?? 0).nonzeroBitCount }
    return count > 0 ? count : nil
}
