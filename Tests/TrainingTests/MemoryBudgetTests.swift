import XCTest
@testable import Training

/// What the node can give a run, read from files laid out as Linux has them under a temporary
/// root: MemAvailable, and the limits of the memory cgroups the process is in.
final class MemoryBudgetTests: XCTestCase {
    var root: URL!
    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("budget-\(UUID().uuidString)")
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    func write(_ text: String, _ path: String) throws {
        let url = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    let mib = 1 << 20

    /// Slurm, cgroup v2 without a namespace: the limit sits on the job's cgroup, two levels
    /// above the step's own, whose memory.max says "max"; the root has no memory.max at all.
    func testASlurmJobsLimitAboveTheProcesssOwnCgroupBounds() throws {
        try write("MemTotal: 67108864 kB\nMemAvailable:   33554432 kB\n", "proc/meminfo")
        try write("0::/system.slice/slurmstepd.scope/job_42/step_0/user/task_0\n", "proc/self/cgroup")
        let job = "sys/fs/cgroup/system.slice/slurmstepd.scope/job_42"
        try write("\(4096 * mib)\n", job + "/memory.max")
        try write("\(1500 * mib)\n", job + "/memory.current")
        try write("anon 1000\nfile 600\ninactive_file \(500 * mib)\nactive_file 5\n", job + "/memory.stat")
        try write("max\n", job + "/step_0/memory.max")
        try write("\(1400 * mib)\n", job + "/step_0/memory.current")
        XCTAssertEqual(MemoryBudget.cgroupAvailable(root: root.path), (4096 - (1500 - 500)) * mib)
        XCTAssertEqual(MemoryBudget.available(root: root.path), 3096 * mib, "the job's limit, under MemAvailable's 32 GiB")
    }

    /// cgroup v1: the memory controller's own hierarchy; its "no limit" is a number near 2⁶³.
    func testAV1LimitCountsAndItsNoLimitDoesNot() throws {
        try write("MemAvailable:   2097152 kB\n", "proc/meminfo")
        try write("5:cpu,cpuacct:/job\n4:memory:/batch/job_7\n0::/\n", "proc/self/cgroup")
        try write("9223372036854771712\n", "sys/fs/cgroup/memory/memory.limit_in_bytes")
        try write("\(9000 * mib)\n", "sys/fs/cgroup/memory/memory.usage_in_bytes")
        try write("9223372036854771712\n", "sys/fs/cgroup/memory/batch/job_7/memory.limit_in_bytes")
        try write("\(10 * mib)\n", "sys/fs/cgroup/memory/batch/job_7/memory.usage_in_bytes")
        XCTAssertNil(MemoryBudget.cgroupAvailable(root: root.path), "no limit anywhere")
        XCTAssertEqual(MemoryBudget.available(root: root.path), 2048 * mib, "MemAvailable alone")
        try write("\(1024 * mib)\n", "sys/fs/cgroup/memory/batch/memory.limit_in_bytes")
        try write("\(300 * mib)\n", "sys/fs/cgroup/memory/batch/memory.usage_in_bytes")
        try write("cache 5\ntotal_inactive_file \(100 * mib)\n", "sys/fs/cgroup/memory/batch/memory.stat")
        XCTAssertEqual(MemoryBudget.available(root: root.path), (1024 - 200) * mib)
    }
}
