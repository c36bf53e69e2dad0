import XCTest

/// A test case whose tests start real `mpirun` jobs of the built executable in a fresh
/// directory holding the source corpus. Skips, saying why, where mpirun is not installed —
/// never a vacuous pass on one rank.
open class MultiRankTestCase: XCTestCase {
    public var directory: URL!
    public var corpus: String!

    open override func setUpWithError() throws {
        guard MPI.mpirun != nil else {
            throw XCTSkip("mpirun is not installed (Debian: apt-get install openmpi-bin libopenmpi-dev): multi-rank tests skipped")
        }
        directory = try TestPaths.temporaryDirectory()
        corpus = try writeSourceCorpus(in: directory)
    }

    open override func tearDownWithError() throws {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    /// mpirun's arguments for N ranks of rnn-dist (oversubscribed when N exceeds the cores).
    public func mpirunArguments(_ ranks: Int, _ arguments: [String]) -> [String] {
        ["-np", String(ranks), "--oversubscribe", "--bind-to", "none", TestPaths.executable.path] + arguments
    }

    /// `mpirun -np N rnn-dist ARGS` in the test directory, which must not hang.
    public func mpirun(_ ranks: Int, _ arguments: [String], timeout: TimeInterval = 120) throws -> ProcessResult {
        let result = try runProcess(MPI.mpirun!, mpirunArguments(ranks, arguments), environment: MPI.environment,
                                    directory: directory, timeout: timeout)
        XCTAssertFalse(result.timedOut, "mpirun -np \(ranks) hung")
        return result
    }
}

/// The lines of metrics files (relative to `directory`) without the timing and memory fields,
/// which differ from run to run: what an exact resume must reproduce.
public func lossLines(in directory: URL, _ paths: String...) throws -> [String] {
    try paths.flatMap { path in
        try String(contentsOfFile: directory.appendingPathComponent(path).path, encoding: .utf8)
            .split(separator: "\n").map { line -> String in
                var object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                for key in ["tokens_per_s", "elapsed_s", "comm_s", "peak_rss_mib"] { object[key] = nil }
                return String(decoding: try JSONSerialization.data(withJSONObject: object, options: .sortedKeys), as: UTF8.self)
            }
    }
}
