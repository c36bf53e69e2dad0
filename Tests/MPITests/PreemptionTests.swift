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

    // Stop signals, one test per launcher, each signal in turn (README, "Checkpoints,
    // preemption, text"). Every case must end with the stop step checkpointed, loadable and
    // `latest`, and with the launcher's exit status: 0, except where mpirun itself answers
    // SIGTERM or SIGINT by killing the job (it then exits 1 whatever the ranks did).

    /// `rnn-dist --ranks 2` passes each stop signal on to mpirun as SIGUSR1; the stopped run
    /// resumes from its checkpoint.
    func testStopSignalsToTheRanksOptionCheckpointAndExitZero() throws {
        for signal in [SIGTERM, SIGINT, SIGUSR1] {
            try assertStop(by: .ranksOption, signal: signal, exits: 0)
        }
        let resumed = try mpirun(2, training("ranks-option-\(SIGTERM)", ["--set", "train.max_steps=60", "--resume", "auto"]))
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resuming from ranks-option-\(SIGTERM)/ckpt/ckpt-"), resumed.stdout)
    }

    /// A bare `mpirun -np 2`: SIGUSR1 is forwarded to the ranks; SIGTERM and SIGINT make
    /// mpirun send the ranks SIGTERM one second later (odls_base_sigkill_timeout) and SIGKILL
    /// one second after that, which the stop step's checkpoint must beat.
    func testStopSignalsToABareMpirunCheckpointTheStopStep() throws {
        try assertStop(by: .mpirun, signal: SIGUSR1, exits: 0)
        try assertStop(by: .mpirun, signal: SIGTERM, exits: 1)
        try assertStop(by: .mpirun, signal: SIGINT, exits: 1)
    }

    /// A signal to one rank alone (a node's own shutdown, a user's kill) stops every rank after
    /// the same step, whether or not that rank is the one that writes checkpoints.
    func testStopSignalsToOneRankStopEveryRank() throws {
        try assertStop(by: .rank(1), signal: SIGTERM, exits: 0)
        try assertStop(by: .rank(1), signal: SIGINT, exits: 0)
        try assertStop(by: .rank(1), signal: SIGUSR1, exits: 0)
        try assertStop(by: .rank(0), signal: SIGTERM, exits: 0)
    }

    /// launch/mpirun.sh passes each stop signal on to mpirun as SIGUSR1, like `--ranks`.
    func testStopSignalsToTheMpirunScriptCheckpointAndExitZero() throws {
        for signal in [SIGTERM, SIGINT, SIGUSR1] {
            try assertStop(by: .mpirunScript, signal: signal, exits: 0)
        }
    }

    /// kill -9 of one rank mid-run: the job ends non-zero, and every checkpoint on disk loads.
    func testKillingOneRankEndsTheJobAndLeavesLoadableCheckpoints() throws {
        let process = try RunningProcess(MPI.mpirun!, mpirunArguments(2, training("kill", ["--set", "checkpoint.every=5"])),
                                         environment: MPI.environment, directory: directory)
        XCTAssertTrue(process.waitForOutput(timeout: 60) { $0.contains("step 30/") }, "training did not start")
        let ranks = try rankProcesses(of: process.process.processIdentifier)
        XCTAssertEqual(ranks.count, 2, "rank processes: \(ranks)")
        kill(try XCTUnwrap(ranks[1]), SIGKILL)
        let result = process.finish(timeout: 30)
        XCTAssertFalse(result.timedOut, "the job hung after a rank died")
        XCTAssertNotEqual(result.status, 0)
        _ = try assertEveryCheckpointLoads("kill")
    }

    // MARK: - One stop

    /// Who is started, and who receives the signal.
    enum StopTarget: CustomStringConvertible {
        case ranksOption     // rnn-dist --ranks 2, signalled
        case mpirun          // mpirun -np 2 rnn-dist, mpirun signalled
        case rank(Int)       // mpirun -np 2 rnn-dist, one rank signalled
        case mpirunScript    // launch/mpirun.sh 2, the script signalled

        var description: String {
            switch self {
            case .ranksOption: return "ranks-option"
            case .mpirun: return "mpirun"
            case .rank(let rank): return "rank\(rank)"
            case .mpirunScript: return "mpirun-script"
            }
        }
    }

    /// Starts a 2-rank run through `target`, sends `signal` once step 20 is logged, and asserts
    /// the exit status and that the stop step's checkpoint exists, loads and is `latest`.
    func assertStop(by target: StopTarget, signal: Int32, exits status: Int32,
                    file: StaticString = #filePath, line: UInt = #line) throws {
        let name = "\(target)-\(signal)"
        // A line per step: more than a terminal holds in the seconds a bare mpirun sent
        // SIGTERM stops reading it, so a rank that waits for room would miss its stop.
        let run = training(name, ["--set", "checkpoint.every=100000", "--set", "log.every=1"])
        let process: RunningProcess
        switch target {
        case .ranksOption:
            process = try RunningProcess(TestPaths.executable, run + ["--ranks", "2"], environment: MPI.environment, directory: directory)
        case .mpirun, .rank:
            process = try RunningProcess(MPI.mpirun!, mpirunArguments(2, run), environment: MPI.environment, directory: directory)
        case .mpirunScript:
            let script = TestPaths.packageRoot.appendingPathComponent("launch/mpirun.sh").path
            process = try RunningProcess(URL(fileURLWithPath: "/bin/bash"), [script, "2"] + run,
                                         environment: MPI.environment.merging(["RNN_DIST": TestPaths.executable.path]) { $1 },
                                         directory: directory)
        }
        guard process.waitForOutput(timeout: 60, until: { $0.contains("step 20/") }) else {
            return XCTFail("\(name): training did not start: \(process.finish(timeout: 10).stderr)", file: file, line: line)
        }
        if case .rank(let rank) = target {
            let ranks = try rankProcesses(of: process.process.processIdentifier)
            kill(try XCTUnwrap(ranks[rank], "\(name): rank processes \(ranks)", file: file, line: line), signal)
        } else {
            process.signal(signal)
        }
        let result = process.finish(timeout: 30)
        XCTAssertFalse(result.timedOut, "\(name) hung", file: file, line: line)
        XCTAssertEqual(result.status, status, "\(name): \(result.stderr)", file: file, line: line)
        // The stop step, from the metrics file: the console's last lines may be lost, since a
        // bare mpirun sent SIGTERM stops reading them (`Console.write`). Where the stop line
        // did get through, it names the same step.
        let metrics = try String(contentsOf: directory.appendingPathComponent("\(name)/metrics.jsonl"), encoding: .utf8)
        let records = try metrics.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let stopRecord = try XCTUnwrap(records.last { $0["stopped"] as? Int == 1 }, "\(name): no stop line in the metrics file",
                                       file: file, line: line)
        let stopStep = try XCTUnwrap(stopRecord["step"] as? Int, "\(name): \(stopRecord)", file: file, line: line)
        if let stopLine = result.stdout.split(separator: "\n").first(where: { $0.hasPrefix("stopped on request at step") }) {
            XCTAssertEqual(Int(stopLine.split(separator: " ")[5]), stopStep, "\(name): \(stopLine)", file: file, line: line)
        }
        let store = directory.appendingPathComponent("\(name)/ckpt")
        let stopCheckpoint = try Checkpoint.load(path: store.appendingPathComponent(String(format: "ckpt-%08d.rnnd", stopStep)).path)
        XCTAssertEqual(stopCheckpoint.header.step, stopStep, name, file: file, line: line)
        XCTAssertEqual(try Checkpoint.load(path: store.appendingPathComponent("latest").path).header.step, stopStep, name,
                       file: file, line: line)
    }

    /// The rank processes mpirun `launcher` started, by rank (OMPI_COMM_WORLD_RANK in their environment).
    func rankProcesses(of launcher: pid_t) throws -> [Int: pid_t] {
        let children = try runProcess(URL(fileURLWithPath: "/usr/bin/pgrep"), ["-P", String(launcher)])
        var ranks: [Int: pid_t] = [:]
        for pid in children.stdout.split(separator: "\n").compactMap({ pid_t($0) }) {
            guard let environment = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ")) else { continue }
            for entry in environment.split(separator: 0) where entry.starts(with: Data("OMPI_COMM_WORLD_RANK=".utf8)) {
                if let rank = Int(String(decoding: entry.dropFirst("OMPI_COMM_WORLD_RANK=".utf8.count), as: UTF8.self)) {
                    ranks[rank] = pid
                }
            }
        }
        return ranks
    }
}
