import XCTest
import Training
import TestSupport

/// Token files and gradient accumulation under real mpirun: `rnn-dist prepare`, ranks reading
/// their shards of a token file, and the same global batch on 1, 2 and 4 ranks.
final class LargeCorpusTests: MultiRankTestCase {
    func rnnDist(_ arguments: [String], timeout: TimeInterval = 120) throws -> ProcessResult {
        let result = try runProcess(TestPaths.executable, arguments, environment: MPI.environment, directory: directory,
                                    timeout: timeout)
        XCTAssertFalse(result.timedOut, "rnn-dist \(arguments.joined(separator: " ")) hung")
        return result
    }

    /// Berkshire's settings writing under `name/`, every step logged.
    func training(_ name: String, data: String, _ extra: [String] = []) -> [String] {
        [TestPaths.config("berkshire.json"), "--set", "data.path=\(data)", "--set", "log.every=1",
         "--set", "log.val_every=10", "--set", "checkpoint.dir=\(name)/ckpt", "--set", "log.metrics=\(name)/metrics.jsonl",
         "--set", "train.max_steps=20"] + extra
    }

    func assertSameLosses(_ a: String, _ b: String, file: StaticString = #filePath, line: UInt = #line) throws {
        func values(_ name: String) throws -> [[String: Double]] {
            try String(contentsOfFile: directory.appendingPathComponent("\(name)/metrics.jsonl").path, encoding: .utf8)
                .split(separator: "\n").map { line in
                    let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                    return object.compactMapValues { $0 as? Double }.filter { ["loss", "val_loss"].contains($0.key) }
                }
        }
        let (x, y) = (try values(a), try values(b))
        XCTAssertEqual(x.count, y.count, "\(a) and \(b) logged different lines", file: file, line: line)
        XCTAssertGreaterThan(x.count, 20, file: file, line: line)
        for (i, (p, q)) in zip(x, y).enumerated() {
            XCTAssertEqual(p.keys.sorted(), q.keys.sorted(), file: file, line: line)
            for (key, value) in p {
                XCTAssertEqual(q[key]!, value, accuracy: 1e-4 * abs(value), "\(a) vs \(b), line \(i + 1), \(key)", file: file, line: line)
            }
        }
    }

    /// The issue's acceptance: `--ranks 1` with accumulate 4, `-np 2` with 2 and `-np 4` with 1
    /// log the same losses.
    func testTheSameGlobalBatchOnOneTwoAndFourRanks() throws {
        let lstm = ["--set", "model.cell=lstm", "--set", "model.layers=2", "--set", "model.hidden_size=32",
                    "--set", "model.dropout=0.1", "--set", "train.optimizer=adam", "--set", "train.lr=0.003"]
        let one = try rnnDist(training("a4", data: corpus, lstm + ["--set", "train.accumulate=4", "--ranks", "1"]))
        XCTAssertEqual(one.status, 0, one.stderr)
        let two = try mpirun(2, training("a2", data: corpus, lstm + ["--set", "train.accumulate=2"]))
        XCTAssertEqual(two.status, 0, two.stderr)
        let four = try mpirun(4, training("a1", data: corpus, lstm))
        XCTAssertEqual(four.status, 0, four.stderr)
        try assertSameLosses("a1", "a2")
        try assertSameLosses("a1", "a4")
        // 64 rows on 4 ranks × 32 micro-batches is 0.5 rows: refused, saying so.
        let bad = try mpirun(4, training("bad", data: corpus, ["--set", "train.accumulate=32"]), timeout: 60)
        XCTAssertEqual(bad.status, 2, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("train.batch_size 64 does not divide by the 4 ranks × train.accumulate 32 = 128"), bad.stderr)
    }

    /// Prepared once, the corpus trains on two ranks exactly as its text on one, and a run may
    /// move from the text to the token file on resume.
    func testTwoRanksTrainFromAPreparedFileAsFromTheText() throws {
        let prepared = try rnnDist(["prepare", TestPaths.config("berkshire.json"), "--set", "data.path=\(corpus!)",
                                    "--output", "corpus.tokens"])
        XCTAssertEqual(prepared.status, 0, prepared.stderr)
        XCTAssertTrue(prepared.stdout.contains("prepared corpus.tokens:"), prepared.stdout)
        XCTAssertTrue(prepared.stdout.contains("--set data.path=corpus.tokens"), prepared.stdout)
        let text = try rnnDist(training("text", data: corpus, ["--ranks", "1"]))
        XCTAssertEqual(text.status, 0, text.stderr)
        let tokens = try mpirun(2, training("tokens", data: "corpus.tokens"))
        XCTAssertEqual(tokens.status, 0, tokens.stderr)
        XCTAssertTrue(tokens.stdout.contains("rnn-dist: corpus.tokens:"), tokens.stdout)
        try assertSameLosses("text", "tokens")
        let resumed = try mpirun(2, training("text", data: "corpus.tokens", ["--set", "train.max_steps=25", "--resume", "auto"]))
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resuming from text/ckpt/ckpt-00000020.rnnd"), resumed.stdout)
        // Another split is other data.
        let other = try mpirun(2, training("text", data: "corpus.tokens", ["--set", "data.val_fraction=0.1", "--resume", "auto"]))
        XCTAssertEqual(other.status, 2, other.stderr)
        XCTAssertTrue(other.stderr.contains("data.val_fraction: the checkpoint was trained with 0.05"), other.stderr)
        XCTAssertEqual(other.stderr.components(separatedBy: "rnn-dist: error:").count - 1, 1, "one message: \(other.stderr)")
    }

    /// A block of tokens that fails its checksum ends the job, naming the file, whichever rank reads it.
    func testADamagedTokenFileEndsTheJob() throws {
        let prepared = try rnnDist(["prepare", TestPaths.config("berkshire.json"), "--set", "data.path=\(corpus!)",
                                    "--output", "corpus.tokens"])
        XCTAssertEqual(prepared.status, 0, prepared.stderr)
        let url = directory.appendingPathComponent("corpus.tokens")
        var bytes = try Data(contentsOf: url)
        bytes[bytes.count - 100] ^= 0x01
        try bytes.write(to: url)
        let result = try rnnDist(training("damaged", data: "corpus.tokens", ["--ranks", "2"]), timeout: 60)
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("corpus.tokens: damaged token file: block 0"), result.stderr)
        XCTAssertFalse(result.stderr.contains("MPI_ABORT"), "no launcher banner: \(result.stderr)")
    }

    func testPrepareReportsBadInputInOneLine() throws {
        let synthetic = try rnnDist(["prepare", TestPaths.config("synthetic.json")])
        XCTAssertEqual(synthetic.status, 2)
        XCTAssertTrue(synthetic.stderr.contains("data.synthetic is generated at start-up"), synthetic.stderr)
        try Data().write(to: directory.appendingPathComponent("empty.txt"))
        let empty = try rnnDist(["prepare", TestPaths.config("berkshire.json"), "--set", "data.path=empty.txt"])
        XCTAssertEqual(empty.status, 2)
        XCTAssertEqual(empty.stderr, "rnn-dist: error: empty.txt: corpus is empty\n")
    }
}
