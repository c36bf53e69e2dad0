import XCTest
import Training
import TestSupport

/// `rnn-dist prepare` and training from its token files, on small generated corpora: the tokens
/// and vocabulary are those a text run makes, every width, and every kind of bad file is one
/// input error naming it.
final class TokenFileTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try TestPaths.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func write(_ text: String, to name: String) throws -> String {
        try writeCorpus(Array(text.utf8), named: name, in: directory)
    }

    func config(_ path: String, _ tokenizer: Tokenizer, vocabSize: Int = 10_000) -> Config {
        var config = Config()
        config.source = "test.json"
        config.data.path = path
        config.data.tokenizer = tokenizer
        config.data.vocabSize = vocabSize
        config.train.batchSize = 4
        config.train.seqLength = 8
        return config
    }

    func assertInputError(_ body: @autoclosure () throws -> some Any, mentions fragments: [String],
                          file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard let error = error as? RNNDistError else { return XCTFail("\(error)", file: file, line: line) }
            XCTAssertTrue(error.isInputError, error.message, file: file, line: line)
            XCTAssertFalse(error.message.contains("\n"), "one line: \(error.message)", file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue(error.message.contains(fragment), "'\(error.message)' lacks '\(fragment)'", file: file, line: line)
            }
        }
    }

    /// Text with a little of everything the tokenizers care about: sentences, punctuation,
    /// apostrophes, capitals, a non-ASCII line and a character outside the BMP.
    func mixedText(lines: Int) -> String {
        var random = TestRandom(seed: 5)
        let words = ["the", "Cat", "sat", "on", "a", "mat", "it's", "o'clock", "42", "dog", "ran", "Away"]
        var text = ""
        for i in 0..<lines {
            let n = 3 + Int(random.tokens(1, below: 9)[0])
            text += random.tokens(n, below: words.count).map { words[Int($0)] }.joined(separator: " ")
            text += [". ", "! ", ", ", "? ", "\n", " — «naïve» café\n", " 𝄞 end.\n"][i % 7]
        }
        return text
    }

    // MARK: XXH64

    func testXXH64MatchesTheReferenceVectors() {
        // Published values of XXH64 with seed 0 (xxHash's sanity tests, python-xxhash's README).
        XCTAssertEqual(XXH64.hash([]), 0xEF46_DB37_51D8_E999)
        XCTAssertEqual(XXH64.hash(Array("a".utf8)), 0xD24E_C4F1_A98C_6E5B)
        XCTAssertEqual(XXH64.hash(Array("abc".utf8)), 0x44BC_2CF5_AD77_0999)
        XCTAssertEqual(XXH64.hash(Array("Nobody inspects the spammish repetition".utf8)), 0xFBCE_A83C_8A37_8BF1)
        // Streaming in uneven pieces gives the one-shot value.
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var hasher = XXH64()
        for piece in [0..<1, 1..<33, 33..<34, 34..<100, 100..<1000] { bytes[piece].withUnsafeBytes { hasher.update($0) } }
        XCTAssertEqual(hasher.finish(), XXH64.hash(bytes))
    }

    // MARK: prepare

    func testPreparedTokensAreWhatATextRunReadsForEveryTokenizer() throws {
        let path = try write(mixedText(lines: 400), to: "mixed.txt")
        for tokenizer in Tokenizer.allCases {
            let output = directory.appendingPathComponent("mixed.\(tokenizer).tokens").path
            let summary = try Preparation.run(config: config(path, tokenizer, vocabSize: 12), output: output)
            let text = try Corpus.load(path: path, tokenizer: tokenizer, vocabularySize: 12)
            let prepared = try Corpus.load(path: output, tokenizer: tokenizer)
            XCTAssertEqual(prepared.vocabulary, text.vocabulary, "\(tokenizer)")
            XCTAssertEqual(prepared.tokens, text.tokens, "\(tokenizer)")
            XCTAssertEqual(summary.header.tokens, text.count)
            XCTAssertEqual(summary.header.tokenWidth, 1, "\(tokenizer): V = \(text.vocabulary.count) fits a byte")
            let file = try TokenFile(path: output)
            XCTAssertEqual(file.header.source.path, URL(fileURLWithPath: path).standardizedFileURL.path)
            XCTAssertEqual(file.header.source.size, try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        }
        // The word splitter that prepared them is seed 001's.
        let words = try Corpus.load(path: path, tokenizer: .word, vocabularySize: 100_000)
        XCTAssertEqual(words.vocabulary.decode(words.tokens.prefix(4)).isEmpty, false)
        let expected = WordSplitter.split(mixedText(lines: 400))
        XCTAssertEqual(words.tokens.map { words.vocabulary.words[Int($0)] }, expected)
    }

    func testWidthIsTheNarrowestThatHoldsTheVocabulary() throws {
        // 70 000 distinct words: V > 65 536 needs 4 bytes a token.
        let many = (0..<70_000).map { "w\($0)" }.joined(separator: " ") + ".\n"
        let wide = try write(many, to: "many.txt")
        let summary = try Preparation.run(config: config(wide, .word, vocabSize: 80_000))
        XCTAssertEqual(summary.header.vocabulary, 70_004)   // 70 000 words, "." and the three special tokens
        XCTAssertEqual(summary.header.tokenWidth, 4)
        let prepared = try Corpus.load(path: summary.path, tokenizer: .word)
        XCTAssertEqual(prepared.tokens, try Corpus.loadWords(path: wide, vocabularySize: 80_000).tokens)
        // 300 distinct characters: 2 bytes.
        let scalars = (0..<300).map { Character(Unicode.Scalar(0x100 + $0)!) }
        let chars = try write(String(scalars) + String(scalars.reversed()), to: "chars.txt")
        let two = try Preparation.run(config: config(chars, .char))
        XCTAssertEqual(two.header.tokenWidth, 2)
        XCTAssertEqual(try Corpus.load(path: two.path, tokenizer: .char).tokens, try Corpus.load(path: chars, tokenizer: .char).tokens)
        XCTAssertEqual(TokenFile.width(forVocabulary: 256), 1)
        XCTAssertEqual(TokenFile.width(forVocabulary: 257), 2)
        XCTAssertEqual(TokenFile.width(forVocabulary: 65_536), 2)
        XCTAssertEqual(TokenFile.width(forVocabulary: 65_537), 4)
    }

    /// Several blocks of tokens, a multi-byte character cut by the edge of a 4 MiB read.
    func testALargerFileSpansBlocksAndReadBoundaries() throws {
        var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: (4 << 20) - 1) + Array("é".utf8)
        for i in stride(from: 0, to: bytes.count - 2, by: 7) { bytes[i] = UInt8(ascii: "b") + UInt8(i % 5) }
        bytes += Array("zz\n".utf8)
        let path = try writeCorpus(bytes, named: "long.txt", in: directory)
        let summary = try Preparation.run(config: config(path, .char))
        XCTAssertEqual(summary.header.tokens, bytes.count - 1)
        XCTAssertEqual(try TokenFile(path: summary.path).blockChecksums.count, 5)
        let text = try Corpus.load(path: path, tokenizer: .char)
        XCTAssertEqual(try Corpus.load(path: summary.path, tokenizer: .char).tokens, text.tokens)
        XCTAssertEqual(text.vocabulary.decode(text.tokens.suffix(4)), "éz" + "z\n")
    }

    func testTrainingDataFromATokenFileEqualsTheTextAndHasItsIdentity() throws {
        let path = try write(mixedText(lines: 300), to: "mixed.txt")
        for tokenizer in Tokenizer.allCases {
            var settings = config(path, tokenizer, vocabSize: 20)
            let fromText = try TrainingData(config: settings)
            let summary = try Preparation.run(config: settings)
            settings.data.path = summary.path
            let fromFile = try TrainingData(config: settings)
            XCTAssertEqual(fromFile.identity, fromText.identity, "\(tokenizer): a run may move from the text to its token file")
            XCTAssertEqual(fromFile.train.tokens, fromText.train.tokens)
            XCTAssertEqual(fromFile.validation.tokens, fromText.validation.tokens)
            XCTAssertEqual(fromFile.trainLayout, fromText.trainLayout)
            var textBatch = fromText.trainLayout.makeBatch(masked: false), fileBatch = textBatch
            for step in [0, 5, fromText.trainLayout.stepsPerEpoch - 1] {
                fromText.trainLayout.fill(&textBatch, step: step, from: fromText.train)
                fromFile.trainLayout.fill(&fileBatch, step: step, from: fromFile.train)
                XCTAssertEqual(fileBatch, textBatch)
            }
            try fromFile.checkReads()
        }
    }

    // MARK: bad input

    func testDamagedTokenFilesAreInputErrorsNamingTheFile() throws {
        let path = try write(String(repeating: "abcdefgh ", count: 40_000), to: "plain.txt")
        let summary = try Preparation.run(config: config(path, .char))
        let good = try Data(contentsOf: URL(fileURLWithPath: summary.path))
        let damaged = directory.appendingPathComponent("damaged.tokens").path
        func load(_ bytes: Data) throws -> Corpus {
            try bytes.write(to: URL(fileURLWithPath: damaged))
            var settings = config(damaged, .char)
            settings.train.batchSize = 2
            let data = try TrainingData(config: settings)
            _ = data.train.tokens
            _ = data.validation.tokens
            try data.checkReads()
            return data.train
        }
        XCTAssertNoThrow(try load(good))
        assertInputError(try load(good.prefix(good.count - 3)), mentions: [damaged, "truncated"])
        assertInputError(try load(good.prefix(40)), mentions: [damaged, "truncated"])
        var header = good
        header[good.firstRange(of: Data("plain.txt".utf8))!.lowerBound] ^= 0x01   // inside the recorded source path
        assertInputError(try load(header), mentions: [damaged, "header checksum"])
        var json = good
        json[17] = UInt8(ascii: "]")
        assertInputError(try load(json), mentions: [damaged, "damaged token file"])
        var tokens = good
        tokens[good.count - 1000] ^= 0x01
        assertInputError(try load(tokens), mentions: [damaged, "block 0", "fails its checksum", "prepare it again"])
        var version = good
        version[8] = 9
        assertInputError(try load(version), mentions: [damaged, "version 9"])
        // Not a token file at all: read as the text it is.
        XCTAssertFalse(TokenFile.isTokenFile(path))
        XCTAssertTrue(TokenFile.isTokenFile(summary.path))
    }

    func testATokenFileOfAnotherTokenizerOrVocabularySizeIsRefused() throws {
        let path = try write(mixedText(lines: 200), to: "mixed.txt")
        let words = try Preparation.run(config: config(path, .word, vocabSize: 30))
        assertInputError(try TrainingData(config: config(words.path, .char)),
                         mentions: [words.path, "word tokenizer", "data.tokenizer char"])
        assertInputError(try TrainingData(config: config(words.path, .word, vocabSize: 50)),
                         mentions: [words.path, "data.vocab_size 30", "asks for 50"])
        XCTAssertNoThrow(try TrainingData(config: config(words.path, .word, vocabSize: 30)))
    }

    func testAStaleTokenFileNamesBothFilesAndAMissingSourceIsFine() throws {
        let path = try write(mixedText(lines: 200), to: "mixed.txt")
        let summary = try Preparation.run(config: config(path, .char))
        try Data((mixedText(lines: 200) + "more").utf8).write(to: URL(fileURLWithPath: path))
        assertInputError(try TrainingData(config: config(summary.path, .char)),
                         mentions: [summary.path, "stale", path, "rnn-dist prepare test.json"])
        try FileManager.default.removeItem(atPath: path)
        XCTAssertNoThrow(try TrainingData(config: config(summary.path, .char)))
    }

    func testPrepareRefusesWhatItCannotPrepare() throws {
        let empty = try write("", to: "empty.txt")
        assertInputError(try Preparation.run(config: config(empty, .char)), mentions: [empty, "empty"])
        assertInputError(try Preparation.run(config: config(empty, .byte)), mentions: [empty, "empty"])
        let blank = try write(" \n\n  \n", to: "blank.txt")
        assertInputError(try Preparation.run(config: config(blank, .word)), mentions: [blank, "empty"])
        let latin = try writeCorpus([0x61, 0x62, 0xC3, 0x28, 0x61], named: "latin.txt", in: directory)
        assertInputError(try Preparation.run(config: config(latin, .char)), mentions: [latin, "UTF-8", "offset 2"])
        assertInputError(try Preparation.run(config: config(latin, .word)), mentions: [latin, "UTF-8", "offset 2"])
        let missing = directory.appendingPathComponent("missing.txt").path
        assertInputError(try Preparation.run(config: config(missing, .char)), mentions: [missing, "not found"])
        let text = try write("abc abc abc\n", to: "t.txt")
        let prepared = try Preparation.run(config: config(text, .char))
        assertInputError(try Preparation.run(config: config(prepared.path, .char)), mentions: [prepared.path, "already a token file"])
        assertInputError(try Preparation.run(config: config(text, .char), output: text), mentions: ["overwrite"])
        var synthetic = Config()
        synthetic.data.synthetic = .sumMod26
        assertInputError(try Preparation.run(config: synthetic), mentions: ["data.synthetic"])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [], "a failed prepare leaves no temporary file")
    }

    func testATextTooLargeForTheNodeSaysToPrepareFirst() {
        assertInputError(try MemoryBudget.check(perRank: 6 << 30, ranksOnNode: 2, available: 8 << 30,
                                                corpus: "big.txt", config: "c.json"),
                         mentions: ["big.txt", "6.0 GiB per rank × 2 ranks", "8.0 GiB available", "rnn-dist prepare c.json",
                                    "data.path=big.txt.tokens"])
        XCTAssertNoThrow(try MemoryBudget.check(perRank: 1 << 30, ranksOnNode: 2, available: 8 << 30, corpus: "x", config: "y"))
        XCTAssertNotNil(MemoryBudget.available())
    }
}
