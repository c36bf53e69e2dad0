import XCTest
import TestSupport

/// The built `rnn-dist` executable, run as a user runs it: output and exit status.
final class CLITests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try TestPaths.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func rnnDist(_ arguments: [String], timeout: TimeInterval = 120) throws -> ProcessResult {
        let result = try runProcess(TestPaths.executable, arguments, directory: directory, timeout: timeout)
        XCTAssertFalse(result.timedOut, "rnn-dist \(arguments.joined(separator: " ")) hung")
        return result
    }

    func writeConfig(_ json: String, name: String = "run.json") throws -> String {
        let path = directory.appendingPathComponent(name).path
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testHelpDescribesTheCommandAndExitsZero() throws {
        let result = try rnnDist(["--help"])
        XCTAssertEqual(result.status, 0)
        XCTAssertTrue(result.stdout.contains("train"), result.stdout)
        let train = try rnnDist(["train", "--help"])
        XCTAssertEqual(train.status, 0)
        for option in ["--ranks", "--set"] { XCTAssertTrue(train.stdout.contains(option), train.stdout) }
    }

    func testTrainingWritesProgressAndMetricsLines() throws {
        let metrics = directory.appendingPathComponent("runs/m.jsonl").path
        let result = try rnnDist([TestPaths.config("synthetic.json"), "--ranks", "1", "--set", "train.max_steps=60",
                                  "--set", "log.every=20", "--set", "log.val_every=30", "--set", "log.metrics=\(metrics)"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("step 60/60"), result.stdout)
        XCTAssertTrue(result.stdout.contains("validation loss"), result.stdout)
        let lines = try String(contentsOfFile: metrics, encoding: .utf8).split(separator: "\n")
        let objects = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let training = objects.filter { $0["loss"] != nil }
        let validation = objects.filter { $0["val_loss"] != nil }
        XCTAssertEqual(training.compactMap { $0["step"] as? Int }, [20, 40, 60])
        XCTAssertEqual(validation.compactMap { $0["step"] as? Int }, [30, 60])
        for line in training {
            for key in ["step", "epoch", "loss", "bpc", "lr", "grad_norm", "tokens_per_s", "elapsed_s", "peak_rss_mib"] {
                XCTAssertNotNil(line[key], "training line lacks \(key): \(line)")
            }
            let loss = try XCTUnwrap(line["loss"] as? Double), bpc = try XCTUnwrap(line["bpc"] as? Double)
            XCTAssertEqual(bpc, loss / log(2), accuracy: 1e-9)
        }
        let firstLoss = try XCTUnwrap(training.first?["loss"] as? Double)
        let lastLoss = try XCTUnwrap(training.last?["loss"] as? Double)
        XCTAssertLessThan(lastLoss, firstLoss, "the loss falls")
    }

    func testTrainIsTheDefaultSubcommand() throws {
        let arguments = ["--set", "train.max_steps=5", "--set", "log.metrics=null", "--set", "log.val_every=null"]
        let explicit = try rnnDist(["train", TestPaths.config("synthetic.json")] + arguments)
        let implicit = try rnnDist([TestPaths.config("synthetic.json")] + arguments)
        XCTAssertEqual(explicit.status, 0, explicit.stderr)
        XCTAssertEqual(implicit.status, 0, implicit.stderr)
        let lossLine = { (r: ProcessResult) in r.stdout.split(separator: "\n").first { $0.hasPrefix("step 5/5") }.map(String.init) }
        XCTAssertNotNil(lossLine(implicit))
        XCTAssertEqual(lossLine(explicit)?.prefix(30), lossLine(implicit)?.prefix(30))
    }

    func testBadConfigsExitTwoWithOneLineNamingKeyAndFile() throws {
        let config = try writeConfig(#"{"data": {"synthetic": "sum_mod_26"}, "train": {"lr": "fast"}}"#)
        assertUsageError(try rnnDist([config]), mentions: [config, "train.lr", "\"fast\""])
        let unknown = try writeConfig(#"{"data": {"synthetic": "sum_mod_26"}, "train": {"epoch": 3}}"#, name: "unknown.json")
        assertUsageError(try rnnDist([unknown]), mentions: [unknown, "unknown key train.epoch"])
        let malformed = try writeConfig(#"{"data": "#, name: "malformed.json")
        assertUsageError(try rnnDist([malformed]), mentions: [malformed, "not valid JSON"])
        assertUsageError(try rnnDist(["nowhere.json"]), mentions: ["nowhere.json", "not found"])
        assertUsageError(try rnnDist([TestPaths.config("synthetic.json"), "--set", "train.batch_size=0"]),
                         mentions: ["--set train.batch_size", "an integer in 1...16777216"])
        assertUsageError(try rnnDist([TestPaths.config("synthetic.json"), "--frobnicate"]), mentions: ["--frobnicate"])
    }

    func testBenchReportsSpeedFlopsAndMemory() throws {
        let corpus = try writeSourceCorpus(in: directory)
        let result = try rnnDist(["bench", "--data", corpus, "--models", "A,C", "--steps", "3", "--warmup", "1"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, result.stdout)
        // The issue's FLOPs per token: RNN 6·(H² + H·V), LSTM 6·(4H² + H·V).
        let expected: [(String, (Double) -> Double)] = [("A", { 6 * (64 * 64 + 64 * $0) }), ("C", { 6 * (4 * 256 * 256 + 256 * $0) })]
        for (line, (model, flopsPerToken)) in zip(lines, expected) {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            XCTAssertEqual(object["model"] as? String, model)
            let rate = try XCTUnwrap(object["tokens_per_s"] as? Double)
            XCTAssertGreaterThan(rate, 0)
            let vocabulary = try XCTUnwrap(object["vocabulary"] as? Double)
            let gflops = try XCTUnwrap(object["gflops"] as? Double)
            XCTAssertEqual(gflops / (rate * flopsPerToken(vocabulary) / 1e9), 1, accuracy: 0.01, "\(object)")
            XCTAssertGreaterThan((object["peak_mib_per_rank"] as? [Double])?.first ?? 0, 1)
        }
        let unknown = try rnnDist(["bench", "--data", corpus, "--models", "Z"])
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.contains("unknown model 'Z'"), unknown.stderr)
    }

    /// `bench --kernels`: for 1 and 2 threads, model B's six products (the names
    /// `launch/bench.sh --kernels` looks for) and then the tile ceiling, whose shape is the
    /// tile the `kernels:` line on stderr names, each with a positive rate.
    func testBenchKernelsReportsTheProductsAndTheTileCeiling() throws {
        let products = ["recurrence h·Whᵀ (per step)", "recurrence dz·Wh (per step)", "dWh = dZᵀ·H",
                        "logits = H·Uᵀ", "dU = dθᵀ·H", "dH = dθ·U"]
        let result = try rnnDist(["bench", "--kernels"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 2 * (products.count + 1), result.stdout)
        let tile = try XCTUnwrap(result.stderr.firstMatch(of: /(\d+)×(\d+) tile/), result.stderr)
        for (index, line) in lines.enumerated() {
            let (threads, position) = (index / (products.count + 1) + 1, index % (products.count + 1))
            XCTAssertTrue(line.hasPrefix("\(threads) thread(s)"), line)
            if position < products.count {
                XCTAssertTrue(line.contains(products[position]), line)
            } else {
                XCTAssertTrue(line.contains("tile ceiling (operands in L1)"), line)
                let shape = try XCTUnwrap(line.firstMatch(of: /(\d+) × +(\d+) × +256/), line)
                XCTAssertEqual([String(shape.1), String(shape.2)], [String(tile.1), String(tile.2)], result.stderr)
            }
            let rate = try XCTUnwrap(line.firstMatch(of: /([0-9.]+) GFLOP\/s$/), line)
            XCTAssertGreaterThan(Double(rate.1) ?? 0, 0, line)
        }
    }

    func testPlotDrawsAMetricsFile() throws {
        let metrics = directory.appendingPathComponent("m.jsonl")
        let lines = [#"{"step":10,"loss":3.1}"#, #"{"step":20,"loss":2.5}"#, #"{"step":20,"val_loss":2.7}"#]
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: metrics)
        let result = try rnnDist(["plot", metrics.path, "-o", "out.svg"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let svg = try String(contentsOf: directory.appendingPathComponent("out.svg"), encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("<path") && svg.contains("<circle"), svg)
        let missing = try rnnDist(["plot", "nothing.jsonl"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("nothing.jsonl: metrics file not found"), missing.stderr)
    }

    func testBadCorporaExitTwoWithOneLineNamingTheFile() throws {
        let berkshire = TestPaths.config("berkshire.json")
        let missing = directory.appendingPathComponent("nope.txt").path
        assertUsageError(try rnnDist([berkshire, "--set", "data.path=\(missing)"]), mentions: [missing, "launch/fetch-data.sh"])
        let empty = directory.appendingPathComponent("empty.txt").path
        FileManager.default.createFile(atPath: empty, contents: Data())
        assertUsageError(try rnnDist([berkshire, "--set", "data.path=\(empty)"]), mentions: [empty, "empty"])
        let latin1 = directory.appendingPathComponent("latin1.txt").path
        FileManager.default.createFile(atPath: latin1, contents: Data([0x63, 0x61, 0x66, 0xE9, 0x20, 0x61]))
        assertUsageError(try rnnDist([berkshire, "--set", "data.path=\(latin1)"]), mentions: [latin1, "UTF-8"])
        let small = directory.appendingPathComponent("small.txt").path
        FileManager.default.createFile(atPath: small, contents: Data("tiny corpus".utf8))
        assertUsageError(try rnnDist([berkshire, "--set", "data.path=\(small)"]), mentions: [small, "too few"])
    }
}
