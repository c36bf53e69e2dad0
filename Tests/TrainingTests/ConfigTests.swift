import XCTest
import Training
import TestSupport

final class ConfigTests: XCTestCase {
    func decode(_ json: String, overrides: [String] = []) throws -> Config {
        try ConfigLoader.decode(JSONValue.parse(Data(json.utf8)), source: "test.json", name: "test", overrides: overrides)
    }

    func assertInputError(_ json: String, overrides: [String] = [], mentions fragments: [String],
                          file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try decode(json, overrides: overrides), file: file, line: line) { error in
            guard let error = error as? RNNDistError else { return XCTFail("not an RNNDistError: \(error)", file: file, line: line) }
            XCTAssertTrue(error.isInputError, file: file, line: line)
            XCTAssertFalse(error.message.contains("\n"), "one line: \(error.message)", file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue(error.message.contains(fragment), "'\(error.message)' lacks '\(fragment)'", file: file, line: line)
            }
        }
    }

    func testDefaultsFillEverythingButTheCorpus() throws {
        let config = try decode(#"{"data": {"path": "x.txt"}}"#)
        XCTAssertEqual(config.data.path, "x.txt")
        XCTAssertEqual(config.data.tokenizer, .char)
        XCTAssertEqual(config.data.valFraction, 0.05)
        XCTAssertEqual(config.model.activation, .tanh)
        XCTAssertEqual(config.train.batchSize, 64)
        XCTAssertEqual(config.train.seqLength, 50)
        XCTAssertEqual(config.train.lr, 0.01)
        XCTAssertEqual(config.train.clipValue, 5)
        XCTAssertNil(config.train.maxSteps)
        XCTAssertTrue(config.train.carryState)
        XCTAssertEqual(config.checkpoint.dir, "checkpoints/test")
        XCTAssertEqual(config.log.metrics, "runs/test/metrics.jsonl")
        XCTAssertEqual(config.clipping, .value(5))
        XCTAssertEqual(config.train.allreduceDtype, .float32)
    }

    func testTheAllreduceTypeIsFloat32OrBFloat16() throws {
        XCTAssertEqual(try decode(#"{"data": {"path": "x"}}"#, overrides: ["train.allreduce_dtype=bfloat16"]).train.allreduceDtype,
                       .bfloat16)
        assertInputError(#"{"data": {"path": "x"}}"#, overrides: ["train.allreduce_dtype=float16"],
                         mentions: ["train.allreduce_dtype", "float16", "\"float32\", \"bfloat16\""])
        assertInputError(#"{"data": {"path": "x"}, "train": {"allreduce_dtype": 16}}"#, mentions: ["train.allreduce_dtype", "16"])
    }

    func testShippedConfigsLoad() throws {
        let berkshire = try ConfigLoader.load(path: TestPaths.config("berkshire.json"))
        XCTAssertEqual(berkshire.model.activation, .sigmoid)
        XCTAssertEqual(berkshire.model.hiddenSize, 64)
        XCTAssertEqual(berkshire.train.epochs, 15)
        XCTAssertEqual(berkshire.data.path, "data/berkshire.txt")
        XCTAssertNoThrow(try ConfigLoader.load(path: TestPaths.config("shakespeare.json")))
        XCTAssertEqual(try ConfigLoader.load(path: TestPaths.config("synthetic.json")).data.synthetic, .sumMod26)
    }

    func testOverridesReplaceKeysAndParseJSONValues() throws {
        let config = try decode(#"{"data": {"path": "x.txt"}, "train": {"lr": 0.5}}"#,
                                overrides: ["train.lr=0.02", "train.max_steps=100", "data.path=/tmp/a b.txt",
                                            "train.carry_state=false", "train.clip_value=null", "train.clip_norm=1"])
        XCTAssertEqual(config.train.lr, 0.02)
        XCTAssertEqual(config.train.maxSteps, 100)
        XCTAssertEqual(config.data.path, "/tmp/a b.txt")
        XCTAssertFalse(config.train.carryState)
        XCTAssertEqual(config.clipping, .globalNorm(1))
    }

    func testBadConfigsNameTheKeyAndTheSource() {
        assertInputError(#"{"data": {"path": "x"}, "train": {"lr": "fast"}}"#, mentions: ["test.json", "train.lr", "\"fast\""])
        assertInputError(#"{"data": {"path": "x"}, "train": {"lr": -1}}"#, mentions: ["train.lr", "> 0"])
        assertInputError(#"{"data": {"path": "x"}, "train": {"learning_rate": 1}}"#, mentions: ["test.json", "unknown key train.learning_rate"])
        assertInputError(#"{"data": {"path": "x"}, "trian": {}}"#, mentions: ["unknown section 'trian'"])
        assertInputError(#"{"data": {"path": "x"}, "train": {"batch_size": 6.5}}"#, mentions: ["train.batch_size", "integer"])
        assertInputError(#"{"data": {"path": "x"}, "train": {"batch_size": 0}}"#, mentions: ["train.batch_size", "an integer in 1...16777216", "(got 0)"])
        assertInputError(#"{"data": {"path": "x"}, "train": {"carry_state": 1}}"#, mentions: ["train.carry_state", "true or false"])
        assertInputError(#"{"data": {"path": "x"}, "model": {"activation": "gelu"}}"#, mentions: ["model.activation", "\"tanh\""])
        assertInputError(#"{"data": {"path": "x", "val_fraction": 0.9}}"#, mentions: ["data.val_fraction", "[0, 0.5]"])
        assertInputError(#"{"model": {}}"#, mentions: ["data.path is missing"])
        assertInputError(#"[1, 2]"#, mentions: ["must be a JSON object"])
        assertInputError(#"{"data": {"path": "x"}}"#, overrides: ["train.lrr=1"], mentions: ["--set train.lrr", "unknown key"])
        assertInputError(#"{"data": {"path": "x"}}"#, overrides: ["train.lr=abc"], mentions: ["--set train.lr", "\"abc\""])
        assertInputError(#"{"data": {"path": "x"}}"#, overrides: ["lr=1"], mentions: ["section.key"])
        assertInputError(#"{"data": {"path": "x"}}"#, overrides: ["train.lr"], mentions: ["KEY=VALUE"])
    }

    func testMalformedAndMissingFilesAreInputErrors() throws {
        let directory = try TestPaths.temporaryDirectory()
        let path = directory.appendingPathComponent("broken.json").path
        try Data(#"{"data": {"path": "x"},"#.utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try ConfigLoader.load(path: path)) { error in
            XCTAssertTrue((error as! RNNDistError).message.hasPrefix("\(path): not valid JSON"))
        }
        XCTAssertThrowsError(try ConfigLoader.load(path: directory.appendingPathComponent("none.json").path)) { error in
            XCTAssertTrue((error as! RNNDistError).message.contains("config file not found"))
        }
    }
}
