import Foundation

/// Tokenized text: a whole corpus, or the shard of it one rank holds. `firstToken` is the
/// global index of `tokens[0]`. For generated tasks `scoredTargets` says which tokens can be
/// predicted at all (the random ones are excluded from the loss).
public struct Corpus: Sendable {
    public let vocabulary: Vocabulary
    public let tokens: [Int32]
    /// scoredTargets[i] == 0: token i is unpredictable and never scored as a target. nil: all are.
    public let scoredTargets: [UInt8]?
    public let firstToken: Int

    public init(vocabulary: Vocabulary, tokens: [Int32], scoredTargets: [UInt8]? = nil, firstToken: Int = 0) {
        precondition(scoredTargets == nil || scoredTargets!.count == tokens.count)
        self.vocabulary = vocabulary
        self.tokens = tokens
        self.scoredTargets = scoredTargets
        self.firstToken = firstToken
    }

    /// The global token indices this corpus holds.
    public var range: Range<Int> { firstToken..<(firstToken + tokens.count) }

    /// Reads and tokenizes the whole file at `path`. Every failure is an input error naming it.
    public static func load(path: String, tokenizer: Tokenizer) throws -> Corpus {
        let (symbols, count) = try CorpusFile.scan(path: path, tokenizer: tokenizer)
        let vocabulary = tokenizer == .byte ? Vocabulary.bytes : Vocabulary(tokenizer: .char, symbols: symbols)
        let size = try CorpusFile.byteOffsets(path: path, tokenizer: tokenizer, tokenIndices: [count])[0]
        let tokens = try CorpusFile.read(path: path, vocabulary: vocabulary, bytes: 0..<size, expectedTokens: count)
        return Corpus(vocabulary: vocabulary, tokens: tokens)
    }

    /// Reads the text at `path` as words: the `vocabularySize` most frequent kept.
    public static func loadWords(path: String, vocabularySize: Int) throws -> Corpus {
        let (symbols, count) = try CorpusFile.scan(path: path, tokenizer: .char)
        let characters = Vocabulary(tokenizer: .char, symbols: symbols)
        let size = try CorpusFile.byteOffsets(path: path, tokenizer: .char, tokenIndices: [count])[0]
        let text = characters.decode(try CorpusFile.read(path: path, vocabulary: characters, bytes: 0..<size, expectedTokens: count))
        let words = WordSplitter.split(text)
        let vocabulary = WordSplitter.vocabulary(of: words, size: vocabularySize)
        let index = Dictionary(uniqueKeysWithValues: vocabulary.words.enumerated().map { ($1, Int32($0)) })
        return Corpus(vocabulary: vocabulary, tokens: words.map { index[$0] ?? 0 })
    }

    /// The tokens with global indices in `range`, which must lie inside this corpus.
    public func slice(_ range: Range<Int>) -> Corpus {
        precondition(range.lowerBound >= firstToken && range.upperBound <= firstToken + tokens.count)
        let local = (range.lowerBound - firstToken)..<(range.upperBound - firstToken)
        return Corpus(vocabulary: vocabulary, tokens: Array(tokens[local]),
                      scoredTargets: scoredTargets.map { Array($0[local]) }, firstToken: range.lowerBound)
    }

    /// The first (1 − fraction) of the tokens for training, the rest for validation.
    public func split(validationFraction fraction: Double) -> (train: Corpus, validation: Corpus) {
        let cut = Self.trainingCount(tokens.count, validationFraction: fraction)
        return (slice(firstToken..<(firstToken + cut)), slice((firstToken + cut)..<range.upperBound))
    }

    /// How many of `count` tokens are for training.
    public static func trainingCount(_ count: Int, validationFraction fraction: Double) -> Int {
        count - Int((Double(count) * fraction).rounded(.down))
    }
}
