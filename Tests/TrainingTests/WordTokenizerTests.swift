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
}
