import XCTest
import Training
import TestSupport

/// A run whose standard output goes away (a `| head`, a launcher that exits first) stops
/// printing and trains on: rank 0 neither dies of SIGPIPE nor traps on EPIPE.
final class ClosedOutputTests: MultiRankTestCase {
    func training(_ name: String) -> [String] {
        [TestPaths.config("berkshire.json"), "--set", "data.path=\(corpus!)", "--set", "log.every=1",
         "--set", "train.max_steps=60", "--set", "checkpoint.every=100000", "--set", "checkpoint.dir=\(name)/ckpt",
         "--set", "log.metrics=null"]
    }

    /// `rnn-dist ... | head -n 3`, its exit status through `pipefail`.
    func testOneProcessTrainsOnAfterItsOutputCloses() throws {
        let result = try runProcess(URL(fileURLWithPath: "/bin/bash"),
                                    ["-c", "set -o pipefail; \"$0\" \"$@\" | head -n 3 > /dev/null", TestPaths.executable.path] + training("one"),
                                    directory: directory, timeout: 120)
        XCTAssertFalse(result.timedOut)
        XCTAssertEqual(result.status, 0, "rnn-dist must outlive its reader: \(result.stderr)")
        XCTAssertEqual(try Checkpoint.load(path: directory.appendingPathComponent("one/ckpt/latest").path).header.step, 60)
    }

    /// Under mpirun, rank 0's output piped into `head -n 3`: the job still runs to its end.
    func testRankZeroTrainsOnAfterItsOutputCloses() throws {
        let rank = ["/bin/bash", "-c", "set -o pipefail; \"$0\" \"$@\" | head -n 3 > /dev/null", TestPaths.executable.path]
        let result = try runProcess(MPI.mpirun!, ["-np", "2", "--oversubscribe", "--bind-to", "none"] + rank + training("two"),
                                    environment: MPI.environment, directory: directory, timeout: 120)
        XCTAssertFalse(result.timedOut)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(try Checkpoint.load(path: directory.appendingPathComponent("two/ckpt/latest").path).header.step, 60)
    }
}
