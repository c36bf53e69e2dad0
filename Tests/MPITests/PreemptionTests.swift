import XCTest
import Training
import TestSupport

/// Checkpoints and stops of multi-rank jobs under real mpirun.
final class PreemptionTests: MultiRankTestCase {
    func training(_ name: String, _ extra: [String] = []) -> [String] {
        [TestPaths.config("berkshire.json"), "--set", "data.path=\(corpus!)", "--set", "log.every=5",
         "--set", "log.val_every=20", "--set", "checkpoint.every=10", "--set", "checkpoint.dir=\(name)/ckpt",
         "--set", "log.metrics=\(name)/metrics.jsonl"] + extra
    }

    func assertEveryCheckpointLoads(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> [Checkpoint] {
        let files = CheckpointStore(directory: directory.appendingPathComponent("\(name)/ckpt").path, keep: 100).checkpointFiles()
        XCTAssertFalse(files.isEmpty, "no checkpoint written", file: file, line: line)
        return try files.map { try Checkpoint.load(path: $0) }
    }

    func testTwoRanksResumeExactly() throws {
        let straight = try mpirun(2, training("straight", ["--set", "train.max_steps=40", "--dump-parameters", "straight"]))
        XCTAssertEqual(straight.status, 0, straight.stderr)
        let first = try mpirun(2, training("split", ["--set", "train.max_steps=20"]))
        XCTAssertEqual(first.status, 0, first.stderr)
        try FileManager.default.moveItem(at: directory.appendingPathComponent("split/metrics.jsonl"),
                                         to: directory.appendingPathComponent("split/first.jsonl"))
        let second = try mpirun(2, training("split", ["--set", "train.max_steps=40", "--resume", "auto", "--dump-parameters", "split"]))
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertEqual(try lossLines(in: directory, "split/first.jsonl", "split/metrics.jsonl"), try lossLines(in: directory, "straight/metrics.jsonl"))
        for rank in 0..<2 {
            XCTAssertEqual(try Data(contentsOf: directory.appendingPathComponent("straight/rank-\(rank).f32")),
                           try Data(contentsOf: directory.appendingPathComponent("split/rank-\(rank).f32")),
                           "rank \(rank)'s final parameters must be bit-identical")
        }
        // The same checkpoint continues on another rank count that divides the batch.
        let four = try mpirun(4, training("split", ["--set", "train.max_steps=45", "--resume", "auto"]))
        XCTAssertEqual(four.status, 0, four.stderr)
        XCTAssertTrue(four.stdout.contains("resuming from split/ckpt/ckpt-00000040.rnnd"), four.stdout)
    }

    /// `rnn-dist --ranks 2` turns SIGTERM into mpirun's forwarded SIGUSR1: all ranks stop after
    /// the same step, rank 0 checkpoints it, and the job exits 0.
    func testSigtermToTheLauncherCheckpointsAndExitsZero() throws {
        let process = try RunningProcess(TestPaths.executable, training("term", ["--ranks", "2", "--set", "checkpoint.every=100000"]),
                                         environment: MPI.environment, directory: directory)
        XCTAssertTrue(process.waitForOutput(timeout: 60) { $0.contains("step 20/") }, "training did not start")
        process.signal(SIGTERM)
        let result = process.finish(timeout: 30)
        XCTAssertEqual(result.status, 0, result.stderr)
        let stopLine = try XCTUnwrap(result.stdout.split(separator: "\n").first { $0.hasPrefix("stopped on request at step") })
        let stopStep = try XCTUnwrap(Int(stopLine.split(separator: " ")[5]))
        XCTAssertEqual(try assertEveryCheckpointLoads("term").first?.header.step, stopStep)
        let resumed = try mpirun(2, training("term", ["--set", "train.max_steps=\(stopStep + 5)", "--resume", "auto"]))
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resuming from term/ckpt/ckpt-"), resumed.stdout)
    }

    /// Signals sent to mpirun itself: SIGUSR1 (what Slurm's --signal sends) is forwarded and
    /// ends the job cleanly with exit 0; SIGTERM makes mpirun kill the job a few seconds later
    /// with its own non-zero status, but the ranks checkpoint the stop step first.
    func testSignalsToMpirunCheckpointTheStopStep() throws {
        for (signal, name) in [(SIGUSR1, "usr1"), (SIGTERM, "term")] {
            let process = try RunningProcess(MPI.mpirun!, mpirunArguments(2, training(name, ["--set", "checkpoint.every=100000"])),
                                             environment: MPI.environment, directory: directory)
            XCTAssertTrue(process.waitForOutput(timeout: 60) { $0.contains("step 20/") }, "training did not start")
            process.signal(signal)
            let result = process.finish(timeout: 30)
            XCTAssertFalse(result.timedOut)
            if signal == SIGUSR1 { XCTAssertEqual(result.status, 0, result.stderr) }
            let stopLine = try XCTUnwrap(result.stdout.split(separator: "\n").first { $0.hasPrefix("stopped on request at step") },
                                         "\(name): \(result.stdout)")
            let stopStep = try XCTUnwrap(Int(stopLine.split(separator: " ")[5]))
            XCTAssertEqual(try assertEveryCheckpointLoads(name).first?.header.step, stopStep, name)
        }
    }

    /// kill -9 of one rank mid-run: the job ends non-zero, and every checkpoint on disk loads.
    func testKillingOneRankEndsTheJobAndLeavesLoadableCheckpoints() throws {
        let process = try RunningProcess(MPI.mpirun!, mpirunArguments(2, training("kill", ["--set", "checkpoint.every=5"])),
                                         environment: MPI.environment, directory: directory)
        XCTAssertTrue(process.waitForOutput(timeout: 60) { $0.contains("step 30/") }, "training did not start")
        let children = try runProcess(URL(fileURLWithPath: "/usr/bin/pgrep"), ["-P", String(process.process.processIdentifier)])
        let ranks = children.stdout.split(separator: "\n").compactMap { Int32($0) }
        XCTAssertEqual(ranks.count, 2, "rank processes: \(children.stdout)")
        kill(try XCTUnwrap(ranks.last), SIGKILL)
        let result = process.finish(timeout: 30)
        XCTAssertFalse(result.timedOut, "the job hung after a rank died")
        XCTAssertNotEqual(result.status, 0)
        _ = try assertEveryCheckpointLoads("kill")
    }
}
