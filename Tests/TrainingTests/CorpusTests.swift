import XCTest
import Training
import TestSupport

final class CorpusTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try TestPaths.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func write(_ bytes: [UInt8], to name: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    func assertInputError(_ body: @autoclosure () throws -> some Any, mentions fragments: [String],
                          file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            let error = error as! RNNDistError
            XCTAssertTrue(error.isInputError, file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue(error.message.contains(fragment), "'\(error.message)' lacks '\(fragment)'", file: file, line: line)
            }
        }
    }

    func testCharVocabularyIsSortedScalarsAndRoundTrips() throws {
        let text = "héllo, wörld — ok"
        let corpus = try Corpus.load(path: write(Array(text.utf8), to: "t.txt"), tokenizer: .char)
        XCTAssertEqual(corpus.vocabulary.symbols, Set(text.unicodeScalars.map(\.value)).sorted())
        XCTAssertEqual(corpus.tokens.count, text.unicodeScalars.count)
        XCTAssertEqual(corpus.vocabulary.decode(corpus.tokens), text)
        XCTAssertEqual(try corpus.vocabulary.encode("héllo").get(), Array(corpus.tokens[0..<5]))
        XCTAssertThrowsError(try corpus.vocabulary.encode("hellz").get())
    }

    func testByteTokenizerTakesAnyFile() throws {
        let corpus = try Corpus.load(path: write([0xFF, 0x00, 0xC3, 0x28], to: "b.bin"), tokenizer: .byte)
        XCTAssertEqual(corpus.vocabulary.count, 256)
        XCTAssertEqual(corpus.tokens, [255, 0, 195, 40])
    }

    func testBadCorporaAreInputErrorsNamingTheFile() throws {
        let missing = directory.appendingPathComponent("missing.txt").path
        assertInputError(try Corpus.load(path: missing, tokenizer: .char), mentions: [missing, "launch/fetch-data.sh"])
        let empty = try write([], to: "empty.txt")
        assertInputError(try Corpus.load(path: empty, tokenizer: .char), mentions: [empty, "empty"])
        let binary = try write([0x61, 0x62, 0xC3, 0x28, 0x61], to: "latin.txt")
        assertInputError(try Corpus.load(path: binary, tokenizer: .char), mentions: [binary, "UTF-8", "offset 2"])
        assertInputError(try Corpus.load(path: directory.path, tokenizer: .char), mentions: ["directory"])
    }

    func testTooSmallCorpusSaysHowSmall() throws {
        var config = Config()
        config.data.path = try write(Array(String(repeating: "abc", count: 100).utf8), to: "small.txt")
        config.train.batchSize = 8
        config.train.seqLength = 50
        assertInputError(try TrainingData(config: config), mentions: ["285 training tokens", "408"])
    }

    func testValidationSplitIsTheTail() throws {
        let corpus = try Corpus.load(path: write(Array("abcdefghijklmnopqrst".utf8), to: "s.txt"), tokenizer: .char)
        let (train, validation) = corpus.split(validationFraction: 0.25)
        XCTAssertEqual(train.vocabulary.decode(train.tokens), "abcdefghijklmno")
        XCTAssertEqual(validation.vocabulary.decode(validation.tokens), "pqrst")
    }

    func testSyntheticTaskFollowsItsRuleAndMasksTheRandomLetters() {
        let corpus = SyntheticTask.sumMod26.generate(tokens: 1000, seed: 3)
        XCTAssertEqual(corpus.vocabulary.count, 26)
        let scored = corpus.scoredTargets!
        for i in 0..<1000 {
            if i % SyntheticTask.segmentLength < 2 {
                XCTAssertEqual(scored[i], 0)
            } else {
                XCTAssertEqual(scored[i], 1)
                XCTAssertEqual(corpus.tokens[i], (corpus.tokens[i - 1] + corpus.tokens[i - 2]) % 26)
            }
        }
        XCTAssertEqual(SyntheticTask.sumMod26.generate(tokens: 1000, seed: 3).tokens, corpus.tokens, "deterministic from the seed")
    }
}
