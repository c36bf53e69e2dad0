import XCTest
import Training
import TestSupport

/// Checkpoints, resume, stop signals, sampling, prediction and evaluation, through the built
/// executable.
final class CheckpointCLITests: XCTestCase {
    var directory: URL!
    var corpus: String!

    override func setUpWithError() throws {
        directory = try TestPaths.temporaryDirectory()
        corpus = try writeSourceCorpus(in: directory)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func rnnDist(_ arguments: [String], timeout: TimeInterval = 120) throws -> ProcessResult {
        let result = try runProcess(TestPaths.executable, arguments, directory: directory, timeout: timeout)
        XCTAssertFalse(result.timedOut, "rnn-dist \(arguments.joined(separator: " ")) hung")
        return result
    }

    /// Berkshire settings on the source corpus, writing under `name/`.
    func training(_ name: String, _ extra: [String] = []) -> [String] {
        [TestPaths.config("berkshire.json"), "--set", "data.path=\(corpus!)", "--set", "log.every=5",
         "--set", "log.val_every=20", "--set", "checkpoint.every=10", "--set", "checkpoint.dir=\(name)/ckpt",
         "--set", "log.metrics=\(name)/metrics.jsonl", "--set", "sample.every=15", "--set", "sample.length=20"] + extra
    }

    func testInterruptedAndResumedRunEqualsAnUninterruptedOne() throws {
        let straight = try rnnDist(training("straight", ["--set", "train.max_steps=40", "--dump-parameters", "straight"]))
        XCTAssertEqual(straight.status, 0, straight.stderr)
        let first = try rnnDist(training("split", ["--set", "train.max_steps=20"]))
        XCTAssertEqual(first.status, 0, first.stderr)
        try FileManager.default.moveItem(at: directory.appendingPathComponent("split/metrics.jsonl"),
                                         to: directory.appendingPathComponent("split/first.jsonl"))
        let second = try rnnDist(training("split", ["--set", "train.max_steps=40", "--resume", "auto", "--dump-parameters", "split"]))
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertTrue(second.stdout.contains("resuming from split/ckpt/ckpt-00000020.rnnd (step 20"), second.stdout)
        XCTAssertEqual(try lossLines(in: directory, "split/first.jsonl", "split/metrics.jsonl"), try lossLines(in: directory, "straight/metrics.jsonl"))
        let a = try Data(contentsOf: directory.appendingPathComponent("straight/rank-0.f32"))
        let b = try Data(contentsOf: directory.appendingPathComponent("split/rank-0.f32"))
        XCTAssertEqual(a, b, "final parameters must be bit-identical")
        // The samples printed during training come from the checkpointed random stream too.
        let sampleAfter = { (text: String) in text.components(separatedBy: "sample at step 30:\n").last?.split(separator: "\n").first }
        XCTAssertEqual(sampleAfter(straight.stdout), sampleAfter(second.stdout))
    }

    func testResumeAutoSkipsDamagedCheckpointsAndSaysWhich() throws {
        let run = try rnnDist(training("run", ["--set", "train.max_steps=30", "--set", "checkpoint.keep=5"]))
        XCTAssertEqual(run.status, 0, run.stderr)
        let store = directory.appendingPathComponent("run/ckpt")
        let newest = store.appendingPathComponent("ckpt-00000030.rnnd"), middle = store.appendingPathComponent("ckpt-00000020.rnnd")
        var bytes = try Data(contentsOf: newest)
        bytes[bytes.count / 3] ^= 0x01
        try bytes.write(to: newest)
        let whole = try Data(contentsOf: middle)
        try whole.prefix(whole.count - 100).write(to: middle)
        let resumed = try rnnDist(training("run", ["--set", "train.max_steps=35", "--resume", "auto"]))
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("run/ckpt/ckpt-00000030.rnnd: not a usable checkpoint"), resumed.stdout)
        XCTAssertTrue(resumed.stdout.contains("run/ckpt/ckpt-00000020.rnnd: not a usable checkpoint"), resumed.stdout)
        XCTAssertTrue(resumed.stdout.contains("resuming from run/ckpt/ckpt-00000010.rnnd (step 10"), resumed.stdout)
        // Naming a damaged file directly is an input error.
        let latest = store.appendingPathComponent("ckpt-00000035.rnnd")
        let good = try Data(contentsOf: latest)
        try good.prefix(good.count - 1).write(to: latest)
        let direct = try rnnDist(training("run", ["--resume", latest.path]))
        XCTAssertEqual(direct.status, 2)
        XCTAssertTrue(direct.stderr.contains("checksum mismatch"), direct.stderr)
    }

    func testACheckpointOfAnotherModelOrVocabularyIsRefused() throws {
        let run = try rnnDist(training("run", ["--set", "train.max_steps=10"]))
        XCTAssertEqual(run.status, 0, run.stderr)
        let wider = try rnnDist(training("run", ["--set", "model.hidden_size=32", "--resume", "auto"]))
        XCTAssertEqual(wider.status, 2)
        XCTAssertTrue(wider.stderr.contains("a 1-layer rnn sigmoid model with hidden_size 64; the config asks for 1-layer rnn sigmoid with hidden_size 32"), wider.stderr)
        let other = directory.appendingPathComponent("other.txt").path
        try Data(String(repeating: "abc xyz\n", count: 2000).utf8).write(to: URL(fileURLWithPath: other))
        let vocabulary = try rnnDist(training("run", ["--set", "data.path=\(other)", "--resume", "auto"]))
        XCTAssertEqual(vocabulary.status, 2)
        XCTAssertTrue(vocabulary.stderr.contains("vocabulary"), vocabulary.stderr)
    }

    func testStopSignalsCheckpointTheStopStepAndExitZero() throws {
        for signal in [SIGTERM, SIGINT, SIGUSR1] {
            let name = "signal\(signal)"
            let process = try RunningProcess(TestPaths.executable, training(name, ["--set", "checkpoint.every=100000"]),
                                             directory: directory)
            XCTAssertTrue(process.waitForOutput(timeout: 60) { $0.contains("step 10/") }, "training did not start")
            process.signal(signal)
            let result = process.finish(timeout: 30)
            XCTAssertEqual(result.status, 0, "signal \(signal): \(result.stderr)")
            let stopLine = try XCTUnwrap(result.stdout.split(separator: "\n").first { $0.hasPrefix("stopped on request at step") })
            let stopStep = try XCTUnwrap(Int(stopLine.split(separator: " ")[5]), String(stopLine))
            let latest = try Checkpoint.load(path: directory.appendingPathComponent("\(name)/ckpt/latest").path)
            XCTAssertEqual(latest.header.step, stopStep)
            let resumed = try rnnDist(training(name, ["--set", "train.max_steps=\(stopStep + 5)", "--resume", "auto"]))
            XCTAssertEqual(resumed.status, 0, resumed.stderr)
            XCTAssertTrue(resumed.stdout.contains("step \(stopStep + 5)/\(stopStep + 5)"), resumed.stdout)
        }
    }

    func testNonFiniteLossSkipsStepsThenStopsWithoutTouchingTheCheckpoint() throws {
        // A ReLU model with a learning rate of 1e30 overflows to Inf, then NaN, within a few steps.
        let result = try rnnDist(training("nan", ["--set", "train.max_steps=40", "--set", "train.lr=1e30",
                                                  "--set", "model.activation=relu", "--set", "checkpoint.every=1",
                                                  "--set", "checkpoint.keep=100"]))
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stdout.contains("update skipped (1 of 3"), result.stdout)
        XCTAssertTrue(result.stderr.contains("not finite (NaN or Inf), 3 steps in a row"), result.stderr)
        let stopLine = try XCTUnwrap(result.stderr.split(separator: "\n").first { $0.contains("in a row") })
        let badStep = try XCTUnwrap(Int(stopLine.components(separatedBy: "step ")[1].split(separator: ":")[0]))
        let files = CheckpointStore(directory: directory.appendingPathComponent("nan/ckpt").path, keep: 100).checkpointFiles()
        for file in files {
            let checkpoint = try Checkpoint.load(path: file)
            XCTAssertLessThan(checkpoint.header.step, badStep - 2, "no checkpoint of a skipped step: \(file)")
            XCTAssertTrue(checkpoint.parameters.allSatisfy(\.isFinite), "\(file) holds non-finite parameters")
        }
    }

    func testTheWatchdogEndsAStalledRun() throws {
        let result = try rnnDist(training("stall", ["--set", "model.hidden_size=512", "--set", "train.stall_timeout=0.01",
                                                    "--set", "train.threads=1"]), timeout: 60)
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("no training step completed in"), result.stderr)
    }

    func testWordLevelModelsTrainCheckpointAndSampleWords() throws {
        let text = GeneratedWords(vocabulary: 400, seed: 11)   // more words than the 300 kept
        let words = directory.appendingPathComponent("words.txt")
        try Data(text.generate(count: 60_000, seed: 12).utf8).write(to: words)
        let prime = "\(text.words[0]) \(text.words[1])"
        let run = try rnnDist([TestPaths.config("shakespeare-words.json"), "--set", "data.path=\(words.path)",
                               "--set", "train.max_steps=30", "--set", "data.vocab_size=300", "--set", "model.hidden_size=32",
                               "--set", "checkpoint.dir=words/ckpt", "--set", "log.metrics=null", "--set", "log.val_every=30"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("V = 300 | gru H = 32"), run.stdout)
        let sample = try rnnDist(["sample", "--checkpoint", "words/ckpt", "--length", "40", "--prime", prime])
        XCTAssertEqual(sample.status, 0, sample.stderr)
        // The prime, then words (a punctuation mark joins the word before it without a space),
        // each one of the text's or `<unk>`: a model sampling characters would make up others.
        XCTAssertTrue(sample.stdout.hasPrefix(prime), sample.stdout)
        let sampled = sample.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "." }).map(String.init)
        XCTAssertGreaterThan(sampled.count, 10, "words, not characters: \(sample.stdout)")
        XCTAssertEqual(sampled.filter { !text.words.contains($0) && $0 != "<unk>" }, [], sample.stdout)
    }

    func testSamplingPredictionAndEvaluationUseTheTrainedModel() throws {
        let run = try rnnDist(training("model", ["--set", "train.max_steps=40"]))
        XCTAssertEqual(run.status, 0, run.stderr)
        let checkpoint = "model/ckpt/latest"
        let sample = { (arguments: [String]) in try self.rnnDist(["sample", "--checkpoint", checkpoint, "--length", "80"] + arguments) }
        let a = try sample(["--seed", "3", "--prime", "func "]), b = try sample(["--seed", "3", "--prime", "func "])
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertEqual(a.stdout, b.stdout, "same seed, same text")
        XCTAssertTrue(a.stdout.hasPrefix("func "))
        XCTAssertEqual(a.stdout.count, "func ".count + 80 + 1)
        XCTAssertNotEqual(a.stdout, try sample(["--seed", "4", "--prime", "func "]).stdout)
        let greedy = try sample(["--greedy", "--prime", "let "])
        let cold = try sample(["--temperature", "0.0001", "--prime", "let ", "--seed", "9"])
        XCTAssertEqual(cold.stdout, greedy.stdout, "temperature → 0 is greedy")
        let topOne = try sample(["--top-k", "1", "--prime", "let ", "--seed", "5"])
        XCTAssertEqual(topOne.stdout, greedy.stdout, "top-1 is greedy")
        let outside = try sample(["--prime", "ü"])
        XCTAssertEqual(outside.status, 2)
        XCTAssertTrue(outside.stderr.contains("--prime: the character \"ü\""), outside.stderr)

        // predict lists the model's softmax: compare with the model loaded in this process.
        let predicted = try rnnDist(["predict", "--checkpoint", checkpoint, "--text", "public func", "--top", "4"])
        XCTAssertEqual(predicted.status, 0, predicted.stderr)
        let model = try TrainedModel(path: directory.appendingPathComponent(checkpoint).path)
        let probabilities = try model.nextTokenProbabilities(after: "public func")
        XCTAssertEqual(probabilities.reduce(0, +), 1, accuracy: 1e-9)
        let expected = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(4)
        let lines = predicted.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 4)
        for (line, token) in zip(lines, expected) {
            let fields = line.split(separator: "\t")
            XCTAssertEqual(Double(fields[0])!, probabilities[token], accuracy: 1e-6)
            let symbol = try JSONDecoder().decode(String.self, from: Data(fields[1].utf8))
            XCTAssertEqual(symbol, model.vocabulary.decode([Int32(token)]))
        }

        // eval of the final checkpoint reproduces the run's last validation line.
        let evaluation = try rnnDist(["eval", TestPaths.config("berkshire.json"), "--set", "data.path=\(corpus!)",
                                      "--checkpoint", checkpoint])
        XCTAssertEqual(evaluation.status, 0, evaluation.stderr)
        let lastValidation = try XCTUnwrap(try lossLines(in: directory, "model/metrics.jsonl").last { $0.contains("val_loss") })
        let object = try JSONSerialization.jsonObject(with: Data(lastValidation.utf8)) as! [String: Any]
        let reported = Double(evaluation.stdout.components(separatedBy: "validation loss ")[1].split(separator: " ")[0])!
        XCTAssertEqual(reported, object["val_loss"] as! Double, accuracy: 1e-6)
        // The model comes from the checkpoint: a config that asks for another one changes nothing.
        let otherModel = try rnnDist(["eval", TestPaths.config("berkshire.json"), "--set", "data.path=\(corpus!)",
                                      "--set", "model.cell=lstm", "--set", "model.hidden_size=7", "--checkpoint", checkpoint])
        XCTAssertEqual(otherModel.status, 0, otherModel.stderr)
        XCTAssertEqual(otherModel.stdout, evaluation.stdout)

        // The loss plot beside the metrics file.
        let svg = try String(contentsOfFile: directory.appendingPathComponent("model/metrics.svg").path, encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("validation"), svg)
    }
}
