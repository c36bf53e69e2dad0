import XCTest
import Distributed
import Training
import TestSupport

/// What a checkpoint records of its data, and `--resume` refusing other data.
final class DataIdentityTests: XCTestCase {
    var directory: URL!
    override func setUpWithError() throws { directory = try TestPaths.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func config(_ corpus: String, _ overrides: [String] = []) throws -> Config {
        try ConfigLoader.load(path: TestPaths.config("berkshire.json"), overrides: [
            "data.path=\(corpus)", "train.batch_size=8", "train.seq_length=16", "model.hidden_size=16",
            "train.max_steps=4", "log.val_every=null", "train.threads=1", "sample.prime=a"] + overrides)
    }

    /// Trains 4 steps on `corpus` and writes the last checkpoint; returns its path.
    func checkpoint(_ corpus: String, _ overrides: [String] = [], edit: (inout Checkpoint) -> Void = { _ in }) throws -> String {
        let watcher = RunWatcher()
        _ = try Trainer(config: config(corpus, overrides), communicator: SingleProcess()).run(observers: [watcher])
        var checkpoint = watcher.events.last!.checkpoint!.checkpoint
        edit(&checkpoint)
        let path = directory.appendingPathComponent("ckpt-\(UUID().uuidString).rnnd").path
        try checkpoint.encoded().write(to: URL(fileURLWithPath: path))
        return path
    }

    func assertRefused(_ corpus: String, _ overrides: [String], from path: String, mentions fragments: [String],
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Trainer(config: config(corpus, overrides + ["train.max_steps=8"]), communicator: SingleProcess(),
                                         resume: path), file: file, line: line) { error in
            let error = error as! RNNDistError
            XCTAssertTrue(error.isInputError, file: file, line: line)
            for fragment in [path] + fragments {
                XCTAssertTrue(error.message.contains(fragment), "'\(error.message)' lacks '\(fragment)'", file: file, line: line)
            }
        }
    }

    func testTheCheckpointRecordsItsDataAndResumeRefusesOtherData() throws {
        let text = SecondOrderMarkovText(seed: 2)
        let corpus = try writeCorpus(text.generate(count: 40_000, seed: 1), named: "a.txt", in: directory)
        let path = try checkpoint(corpus)
        let recorded = try XCTUnwrap(Checkpoint.load(path: path).header.data)
        XCTAssertEqual(recorded, try TrainingData(config: config(corpus)).identity)
        XCTAssertEqual(recorded.tokens, 40_000)
        XCTAssertEqual(recorded.valFraction, 0.05)

        // The same data resumes; a changed split, text or length is refused, naming the key.
        XCTAssertNoThrow(try Trainer(config: config(corpus, ["train.max_steps=8"]), communicator: SingleProcess(), resume: path))
        assertRefused(corpus, ["data.val_fraction=0.2"], from: path,
                      mentions: ["data.val_fraction", "trained with 0.05", "asks for 0.2"])
        assertRefused(corpus, ["data.val_fraction=0.5"], from: path, mentions: ["data.val_fraction"])
        let other = try writeCorpus(text.generate(count: 40_000, seed: 9), named: "b.txt", in: directory)
        assertRefused(other, [], from: path, mentions: ["data.path", "other text", recorded.checksum, other])
        let longer = try writeCorpus(text.generate(count: 80_000, seed: 1), named: "c.txt", in: directory)
        assertRefused(longer, [], from: path, mentions: ["data.path", "40000 tokens", "80000 tokens"])

        // The token file prepared from the same text is the same data.
        let prepared = try Preparation.run(config: config(corpus))
        XCTAssertNoThrow(try Trainer(config: config(prepared.path, ["train.max_steps=8"]), communicator: SingleProcess(), resume: path))
    }

    func testACheckpointWithoutADataRecordIsAcceptedWithANote() throws {
        let corpus = try writeCorpus(SecondOrderMarkovText(seed: 2).generate(count: 40_000, seed: 1), named: "a.txt", in: directory)
        let old = try checkpoint(corpus) { $0.header.data = nil }
        XCTAssertNil(try Checkpoint.load(path: old).header.data)
        let watcher = RunWatcher()
        _ = try Trainer(config: config(corpus, ["train.max_steps=6"]), communicator: SingleProcess(), resume: old)
            .run(observers: [watcher])
        XCTAssertTrue(watcher.notes.contains { $0.contains("predates data records") && $0.contains(old) }, "\(watcher.notes)")
        XCTAssertEqual(watcher.events.count, 2)
        // Its stored config still tells the split.
        assertRefused(corpus, ["data.val_fraction=0.2"], from: old, mentions: ["data.val_fraction", "0.05", "0.2"])
    }

    /// A cursor past the end of the data (an old checkpoint of a longer corpus) is an error, not a trap.
    func testACursorPastTheDataIsRefused() throws {
        let text = SecondOrderMarkovText(seed: 2)
        let long = try writeCorpus(text.generate(count: 400_000, seed: 1), named: "long.txt", in: directory)
        let path = try checkpoint(long, ["train.max_steps=400"]) { $0.header.data = nil }   // chunk 400 of ~2 968
        let short = try writeCorpus(text.generate(count: 40_000, seed: 1), named: "short.txt", in: directory)
        assertRefused(short, [], from: path, mentions: ["data cursor", "steps per epoch"])
    }
}
