import XCTest
import Training
import TestSupport

final class WordTokenizerTests: XCTestCase {
    func testWordsArePunctuationAwareLowerCasedAndSentenceMarked() {
        XCTAssertEqual(WordSplitter.split("Hello, World! It's 42 o'clock.\nBye"),
                       ["<s>", "hello", ",", "world", "!", "</s>", "<s>", "it's", "42", "o'clock", ".", "</s>",
                        "<s>", "bye", "</s>"])
        XCTAssertEqual(WordSplitter.split("Done."), ["<s>", "done", ".", "</s>"])
        XCTAssertEqual(WordSplitter.split("'quoted' word", sentenceMarks: false), ["'", "quoted'", "word"])
    }

    func testVocabularyKeepsTheMostFrequentAndMapsTheRestToUnknown() {
        let tokens = WordSplitter.split("b a b c b a. d")
        let vocabulary = WordSplitter.vocabulary(of: tokens, size: 5)
        XCTAssertEqual(vocabulary.words, ["<unk>", "<s>", "</s>", "b", "a"], "most frequent first, ties alphabetical")
        XCTAssertEqual(vocabulary.count, 5)
        XCTAssertEqual(try vocabulary.encode("A b zebra").get(), [4, 3, 0])
        XCTAssertEqual(vocabulary.decode([1, 4, 3, 0, 2, 1, 3]), "a b <unk>\nb")
        XCTAssertEqual(vocabulary.startToken, 1)
    }

    func testDecodingAttachesPunctuation() {
        XCTAssertEqual(WordSplitter.join(["<s>", "well", ",", "then", "!", "</s>", "<s>", "go", "</s>"]), "well, then!\ngo\n")
    }

    func testAWordCorpusLoadsAndSplits() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("w.txt").path
        try Data(String(repeating: "The cat sat. The dog ran! ", count: 50).utf8).write(to: URL(fileURLWithPath: path))
        let corpus = try Corpus.loadWords(path: path, vocabularySize: 6)
        XCTAssertEqual(corpus.vocabulary.words, ["<unk>", "<s>", "</s>", "the", "!", "."])
        XCTAssertEqual(corpus.tokens.count, 50 * 2 * 6)   // <s> the x y . </s>, twice per repetition
        XCTAssertEqual(corpus.vocabulary.decode(corpus.tokens.prefix(12)), "the <unk> <unk>.\nthe <unk> <unk>!\n")
    }

    /// Seed 001's splitter as it was, by `Character` over the whole lower-cased text: the
    /// reference the streaming splitter (a byte loop for ASCII lines) must equal.
    func referenceSplit(_ text: String) -> [String] {
        var tokens = ["<s>"], word = ""
        func flush() { if !word.isEmpty { tokens.append(word); word = "" } }
        for character in text.lowercased() {
            if character.isLetter || character.isNumber || (character == "'" && !word.isEmpty) {
                word.append(character)
            } else {
                flush()
                guard !character.isWhitespace else { continue }
                tokens.append(String(character))
                if [".", "!", "?"].contains(character) { tokens += ["</s>", "<s>"] }
            }
        }
        flush()
        if tokens.last == "<s>" { tokens.removeLast() } else { tokens.append("</s>") }
        return tokens
    }

    func testTheStreamingSplitterEqualsTheCharacterSplitter() {
        // Every ASCII character between letters, at the ends, doubled.
        for byte in UInt8(0)..<128 {
            let c = String(UnicodeScalar(byte))
            for text in ["ab\(c)cd", "\(c)x", "x\(c)", "\(c)\(c)", "A\(c)'b\(c)\n"] {
                XCTAssertEqual(WordSplitter.split(text), referenceSplit(text), "byte \(byte) in \(String(reflecting: text))")
            }
        }
        // Lines outside ASCII, clusters that span what a byte loop would see as two characters,
        // case mappings that change lengths, canonically equivalent spellings.
        let texts = ["Caf\u{E9} CAFE\u{301}! naïve — «quoted» 'word' it's", "e\u{301}\u{301}x \u{301}y",
                     "\r\nline\r\nİstanbul ΣΊΣΥΦΟΣ. 𝄞 music", "tab\there\u{85}next\u{A0}nb\u{2028}ls", "日本語のテキスト。終わり！",
                     "a\nb\n\n\u{301}c", "'lead 'n' trail' ", "x.y!z?", "   ", ""]
        for text in texts {
            XCTAssertEqual(WordSplitter.split(text), referenceSplit(text), String(reflecting: text))
            XCTAssertEqual(WordSplitter.split(text, sentenceMarks: false),
                           referenceSplit(text).filter { $0 != "<s>" && $0 != "</s>" }, String(reflecting: text))
        }
        var random = TestRandom(seed: 11)
        let pieces = ["The", "cat", "É", "ß", "'", ".", "!", " ", " ", "\n", "\r\n", "\u{301}", "x\u{308}", "42", "—", "İ"]
        for _ in 0..<200 {
            let text = random.tokens(30, below: pieces.count).map { pieces[Int($0)] }.joined()
            XCTAssertEqual(WordSplitter.split(text), referenceSplit(text), String(reflecting: text))
        }
    }

    /// A file is read in blocks cut at line feeds, or in a line longer than a block, after a
    /// space: the tokens are those of the whole text.
    func testAFileSplitsInBlocksAsTheWholeText() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var random = TestRandom(seed: 3)
        let words = ["alpha", "Beta", "gamma.", "it's", "(1)", "end!"]
        let line = random.tokens(750_000, below: words.count).map { words[Int($0)] }.joined(separator: " ")
        let text = line + "\n délta x\u{301} " + line.prefix(1000) + "\n"     // one line of 4.4 MB, longer than a block
        let path = directory.appendingPathComponent("long.txt").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        let corpus = try Corpus.loadWords(path: path, vocabularySize: 100)
        XCTAssertEqual(corpus.tokens.map { corpus.vocabulary.words[Int($0)] }, WordSplitter.split(text))
    }

    /// Counting holds at most a given number of distinct words: rare ones are dropped, frequent
    /// ones kept with their counts (approximately: lossy counting).
    func testCountingIsBoundedAndKeepsTheFrequentWords() {
        var tokens: [String] = []
        for i in 0..<20_000 {
            tokens.append("rare\(i)")
            if i % 3 == 0 { tokens.append("often") }
            if i % 7 == 0 { tokens.append("sometimes") }
        }
        let exact = WordSplitter.vocabulary(of: tokens, size: 5)
        XCTAssertEqual(exact.words, ["<unk>", "<s>", "</s>", "often", "sometimes"])
        let bounded = WordSplitter.vocabulary(of: tokens, size: 5, countingAtMost: 100)
        XCTAssertEqual(bounded.words, exact.words)
    }
}
