import XCTest
import Model
import TestSupport
@testable import Training

/// The checkpoint header is read strictly, and no damaged checkpoint traps.
final class CheckpointHeaderTests: XCTestCase {
    func makeCheckpoint(cell: CellType = .lstm, lastValidationLoss: Double? = 2.5) -> Checkpoint {
        var random = TestRandom(seed: 3)
        let model = LanguageModel<Float>(shape: ModelShape(vocabulary: 5, hidden: 3, cell: cell, layers: 2))
        let n = model.layout.count
        let position = Checkpoint.RunPosition(
            step: 12, epoch: 1, chunk: 12, batchSize: 2, seqLength: 4, random: 0xFEDC_BA98_7654_3210, intervalNats: 3,
            intervalTokens: 16, intervalSteps: 2, lastValidationLoss: lastValidationLoss, bestValidationLoss: 2,
            validationsSinceBest: 1)
        let header = Checkpoint.Header(
            config: "{}", vocabulary: Vocabulary(tokenizer: .char, symbols: [10, 97, 98, 99, 100]), model: model,
            position: position, optimizer: Checkpoint.OptimizerRecord(kind: "adam", steps: 12, learningRate: 0.002, stateCount: 2 * n),
            stateCount: 2 * 2 * 2 * 3)
        return Checkpoint(header: header, parameters: random.normal(n).map(Float.init),
                          optimizerState: random.uniform(2 * n).map(Float.init), hiddenState: random.uniform(24).map(Float.init))
    }

    /// The file with its header replaced by `edit` of the header's JSON object, and `version`.
    func reencoded(_ checkpoint: Checkpoint, version: UInt32 = Checkpoint.version,
                   _ edit: (inout [String: Any]) -> Void) throws -> Data {
        let data = checkpoint.encoded()
        let length = Int(data[12]) | Int(data[13]) << 8 | Int(data[14]) << 16 | Int(data[15]) << 24
        var object = try JSONSerialization.jsonObject(with: data.subdata(in: 16..<(16 + length))) as! [String: Any]
        edit(&object)
        let json = try JSONSerialization.data(withJSONObject: object, options: .sortedKeys)
        return withChecksum(Data(Checkpoint.magic) + littleEndian(version) + littleEndian(UInt32(json.count)) + json
                            + data.subdata(in: (16 + length)..<(data.count - 8)))
    }

    func assertRefused(_ data: Data, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Checkpoint.decode(data, path: "c.rnnd"), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains("c.rnnd: not a usable checkpoint") && "\(error)".contains(fragment),
                          "'\(error)' lacks '\(fragment)'", file: file, line: line)
        }
    }

    func testUnknownMissingMistypedAndUnnamedFieldsAreErrorsNamingTheField() throws {
        let checkpoint = makeCheckpoint()
        assertRefused(try reencoded(checkpoint) { $0["flavour"] = "mint" }, "unknown header field 'flavour'")
        assertRefused(try reencoded(checkpoint) { $0["activation"] = nil }, "header field 'activation' is missing")
        assertRefused(try reencoded(checkpoint) { $0["hidden"] = "three" }, "header field 'hidden' has the wrong type")
        assertRefused(try reencoded(checkpoint) { $0["cell"] = "transformer" }, "header field 'cell' has an impossible value")
        assertRefused(try reencoded(checkpoint) { $0["activation"] = "swish" }, "header field 'activation'")
        assertRefused(try reencoded(checkpoint) { $0["hidden"] = 1 << 40 }, "header field 'hidden'")
        assertRefused(try reencoded(checkpoint) { $0["parameterCount"] = -4; $0["stateCount"] = 28 }, "parameterCount")
        assertRefused(try reencoded(checkpoint) { $0["validationsSinceBest"] = nil }, "'validationsSinceBest' is missing")
    }

    /// A version-1 file, which had no validationsSinceBest, still loads.
    func testAVersionOneCheckpointStillLoads() throws {
        let data = try reencoded(makeCheckpoint(), version: 1) { $0["validationsSinceBest"] = nil }
        let decoded = try Checkpoint.decode(data, path: "c.rnnd")
        XCTAssertEqual(decoded.header.validationsSinceBest, 0)
        XCTAssertEqual(decoded.header.random, 0xFEDC_BA98_7654_3210, "a UInt64 survives the header exactly")
    }

    /// A diverged run's NaN validation loss is written as null and read back as none.
    func testANonFiniteLossIsWrittenAsNull() throws {
        let checkpoint = makeCheckpoint(lastValidationLoss: .nan)
        let decoded = try Checkpoint.decode(checkpoint.encoded(), path: "c.rnnd")
        XCTAssertNil(decoded.header.lastValidationLoss)
        XCTAssertEqual(decoded.header.bestValidationLoss, 2)
    }

    /// Hundreds of truncated and byte-flipped checkpoints (half with the checksum made right
    /// again, so the header and lengths are parsed too): each is refused with a one-line input
    /// error naming the file, or — when only a tensor's bytes changed — loads into a model.
    func testDamagedCheckpointsAreRefusedWithOneLineAndNeverTrap() throws {
        var random = RandomSource(seed: 11)
        var refused = 0, loaded = 0
        for cell in CellType.allCases {
            let original = makeCheckpoint(cell: cell).encoded()
            for trial in 0..<150 {
                var data = original
                if trial % 3 == 0 {
                    data = data.prefix(Int(random.next() % UInt64(data.count)))
                } else {
                    for _ in 0...(random.next() % 4) {
                        data[Int(random.next() % UInt64(data.count))] ^= UInt8(1 << (random.next() % 8))
                    }
                }
                if trial % 2 == 1, data.count >= 8 { data = withChecksum(data.prefix(data.count - 8)) }
                do {
                    let checkpoint = try Checkpoint.decode(data, path: "c.rnnd")
                    _ = try TrainedModel(checkpoint: checkpoint, path: "c.rnnd")
                    loaded += 1
                } catch let error as RNNDistError {
                    XCTAssertTrue(error.isInputError, error.message)
                    XCTAssertTrue(error.message.hasPrefix("c.rnnd: "), error.message)
                    XCTAssertFalse(error.message.contains("\n"), error.message)
                    refused += 1
                }
            }
        }
        XCTAssertGreaterThan(refused, 300)
        XCTAssertGreaterThan(loaded, 0, "flips inside the tensors load")
    }
}

func littleEndian<T: FixedWidthInteger>(_ value: T) -> Data { withUnsafeBytes(of: value.littleEndian) { Data($0) } }

/// `body` followed by its FNV-1a checksum, as a checkpoint file ends.
func withChecksum(_ body: Data) -> Data {
    body + littleEndian(Data(body).withUnsafeBytes { fnv1a($0) })
}
