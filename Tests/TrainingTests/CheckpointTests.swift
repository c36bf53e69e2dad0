import XCTest
import Model
import Training
import TestSupport

final class CheckpointTests: XCTestCase {
    var directory: URL!
    override func setUpWithError() throws { directory = try TestPaths.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func makeCheckpoint(step: Int = 7) -> Checkpoint {
        var random = TestRandom(seed: UInt64(step))
        let model = LanguageModel<Float>(shape: ModelShape(vocabulary: 4, hidden: 3))
        let n = model.layout.count
        let position = Checkpoint.RunPosition(
            step: step, epoch: 2, chunk: 5, batchSize: 2, seqLength: 4, random: 0xDEAD_BEEF, intervalNats: 1.5,
            intervalTokens: 8, intervalSteps: 1, lastValidationLoss: 2.25, bestValidationLoss: 2.0)
        let header = Checkpoint.Header(
            config: #"{"data":{"path":"x"}}"#, vocabulary: Vocabulary(tokenizer: .char, symbols: [10, 32, 97, 98]),
            model: model, position: position,
            optimizer: Checkpoint.OptimizerRecord(kind: "adagrad", steps: 7, learningRate: 0.01, stateCount: n),
            stateCount: 6)
        return Checkpoint(header: header, parameters: random.normal(n).map(Float.init),
                          optimizerState: random.uniform(n).map { Float(abs($0)) }, hiddenState: random.uniform(6).map(Float.init))
    }

    func assertUnusable(_ data: Data, because fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Checkpoint.decode(data, path: "c.rnnd"), file: file, line: line) { error in
            let error = error as! RNNDistError
            XCTAssertTrue(error.isInputError, file: file, line: line)
            XCTAssertTrue(error.message.contains("c.rnnd: not a usable checkpoint"), error.message, file: file, line: line)
            XCTAssertTrue(error.message.contains(fragment), "'\(error.message)' lacks '\(fragment)'", file: file, line: line)
        }
    }

    func testRoundTripIsBitExact() throws {
        let original = makeCheckpoint()
        let decoded = try Checkpoint.decode(original.encoded(), path: "c.rnnd")
        XCTAssertEqual(decoded.header, original.header)
        XCTAssertEqual(decoded.parameters.map(\.bitPattern), original.parameters.map(\.bitPattern))
        XCTAssertEqual(decoded.optimizerState.map(\.bitPattern), original.optimizerState.map(\.bitPattern))
        XCTAssertEqual(decoded.hiddenState.map(\.bitPattern), original.hiddenState.map(\.bitPattern))
        XCTAssertEqual(decoded.encoded(), original.encoded())
    }

    func testDamageIsDetected() {
        let data = makeCheckpoint().encoded()
        var badMagic = data
        badMagic[0] = UInt8(ascii: "X")
        assertUnusable(badMagic, because: "bad magic number")
        var badVersion = data
        badVersion[8] = 99
        assertUnusable(badVersion, because: "format version 99")
        assertUnusable(data.prefix(data.count - 10), because: "checksum")
        for offset in [20, data.count / 2, data.count - 9] {
            var flipped = data
            flipped[offset] ^= 0x10
            assertUnusable(flipped, because: "checksum")
        }
        assertUnusable(Data(), because: "magic")
    }

    func testStoreKeepsTheNewestAndPointsLatestAndBest() throws {
        let store = CheckpointStore(directory: directory.path, keep: 2)
        for step in [10, 20, 30, 40] { try store.write(makeCheckpoint(step: step), isBest: step == 20) }
        XCTAssertEqual(store.checkpointFiles().map { ($0 as NSString).lastPathComponent },
                       ["ckpt-00000040.rnnd", "ckpt-00000030.rnnd"])
        XCTAssertEqual(try Checkpoint.load(path: directory.appendingPathComponent("latest").path).header.step, 40)
        XCTAssertEqual(try Checkpoint.load(path: directory.appendingPathComponent("best.rnnd").path).header.step, 20,
                       "the best outlives pruning")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".tmp") }
        XCTAssertEqual(leftovers, [])
    }

    func testNewestValidSkipsDamagedFilesAndSaysWhich() throws {
        let store = CheckpointStore(directory: directory.path, keep: 5)
        for step in [10, 20, 30] { try store.write(makeCheckpoint(step: step), isBest: false) }
        let newest = store.path(step: 30), middle = store.path(step: 20)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: newest))
        bytes[bytes.count / 2] ^= 1
        try bytes.write(to: URL(fileURLWithPath: newest))
        let truncated = try Data(contentsOf: URL(fileURLWithPath: middle))
        try truncated.prefix(truncated.count / 2).write(to: URL(fileURLWithPath: middle))
        var reports: [String] = []
        let found = store.newestValid { reports.append($0) }
        XCTAssertEqual(found?.checkpoint.header.step, 10)
        XCTAssertEqual(reports.count, 2)
        XCTAssertTrue(reports[0].contains(newest) && reports[0].contains("skipped"), reports[0])
        XCTAssertTrue(reports[1].contains(middle), reports[1])
    }

    func testAFullDiskLeavesThePreviousCheckpoint() throws {
        // /dev/full accepts opens and fails every write with ENOSPC: a directory whose
        // temporary file is a symbolic link to it behaves like a full disk.
        guard FileManager.default.fileExists(atPath: "/dev/full") else { throw XCTSkip("no /dev/full here") }
        let store = CheckpointStore(directory: directory.path, keep: 3)
        try store.write(makeCheckpoint(step: 10), isBest: false)
        try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent(".ckpt-00000020.rnnd.tmp").path,
                                                   withDestinationPath: "/dev/full")
        XCTAssertThrowsError(try store.write(makeCheckpoint(step: 20), isBest: false)) { error in
            XCTAssertTrue("\(error)".contains("the previous checkpoint is intact"), "\(error)")
        }
        XCTAssertEqual(try Checkpoint.load(path: directory.appendingPathComponent("latest").path).header.step, 10)
        XCTAssertEqual(store.checkpointFiles().count, 1)
    }
}
