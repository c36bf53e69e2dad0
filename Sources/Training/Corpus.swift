import Foundation
import Kernels

/// Tokenized text: a whole corpus, or the shard of it one rank holds. `firstToken` is the
/// global index of its first token. The tokens are in memory (a text read at start-up, a
/// generated task) or in a token file, read a window at a time (`TokenFileReader`). For
/// generated tasks `scoredTargets` says which tokens can be predicted at all (the random ones
/// are excluded from the loss).
public struct Corpus: Sendable {
    public let vocabulary: Vocabulary
    /// scoredTargets[i] == 0: token i is unpredictable and never scored as a target. nil: all are.
    public let scoredTargets: [UInt8]?
    public let firstToken: Int
    public let count: Int
    private let storage: Storage

    private enum Storage: Sendable {
        case memory([Int32])
        case file(TokenFileReader)
    }
    /// The global index of the memory array's first token.
    private let storageStart: Int

    public init(vocabulary: Vocabulary, tokens: [Int32], scoredTargets: [UInt8]? = nil, firstToken: Int = 0) {
        precondition(scoredTargets == nil || scoredTargets!.count == tokens.count)
        self.vocabulary = vocabulary
        self.scoredTargets = scoredTargets
        self.firstToken = firstToken
        count = tokens.count
        storage = .memory(tokens)
        storageStart = firstToken
    }

    /// Bytes its tokens hold in memory: none for a token file's, read a window at a time.
    public var residentBytes: Int {
        switch storage {
        case .memory(let tokens): tokens.count * MemoryLayout<Int32>.stride + (scoredTargets?.count ?? 0)
        case .file: 0
        }
    }

    /// Tokens `range` of a token file, read on demand by `reader`.
    init(vocabulary: Vocabulary, reader: TokenFileReader) {
        self.vocabulary = vocabulary
        scoredTargets = nil
        firstToken = reader.range.lowerBound
        count = reader.range.count
        storage = .file(reader)
        storageStart = firstToken
    }

    /// `range` of `parent`: its own copy of the tokens in memory (so that the parent's can be
    /// freed), the same reader for a token file.
    private init(_ parent: Corpus, range: Range<Int>, scoredTargets: [UInt8]?) {
        vocabulary = parent.vocabulary
        self.scoredTargets = scoredTargets
        firstToken = range.lowerBound
        count = range.count
        switch parent.storage {
        case .memory(let all):
            let start = range.lowerBound - parent.storageStart
            storage = .memory(Array(all[start..<(start + range.count)]))
            storageStart = range.lowerBound
        case .file:
            storage = parent.storage
            storageStart = parent.storageStart
        }
    }

    /// The global token indices this corpus holds.
    public var range: Range<Int> { firstToken..<(firstToken + count) }

    /// Every token, as one array (a token file's are read: meant for tests and small corpora;
    /// training reads through `read`).
    public var tokens: [Int32] {
        switch storage {
        case .memory(let all):
            let start = firstToken - storageStart
            return start == 0 && count == all.count ? all : Array(all[start..<(start + count)])
        case .file:
            var all = [Int32](repeating: 0, count: count)
            all.withUnsafeMutableBufferPointer { out in
                var at = 0
                while at < count {
                    let n = min(1 << 16, count - at)
                    read((firstToken + at)..<(firstToken + at + n), lane: 0, into: out.baseAddress! + at)
                    at += n
                }
            }
            return all
        }
    }

    /// Writes tokens `tokens` (global indices inside `range`) to `out`. `lane` names the stream
    /// the read belongs to: a token file keeps a read-ahead window per lane.
    @inline(__always)
    func read(_ tokens: Range<Int>, lane: Int, into out: UnsafeMutablePointer<Int32>) {
        switch storage {
        case .memory(let all):
            all.withUnsafeBufferPointer { all in
                out.update(from: all.baseAddress! + (tokens.lowerBound - storageStart), count: tokens.count)
            }
        case .file(let reader):
            reader.read(tokens, lane: lane, into: out)
        }
    }

    /// Starts loading tokens `tokens` into the cache, for a `read` soon after: a batch reads
    /// one stretch of the corpus per row, each a cache miss (a token file's reader keeps its
    /// own windows, so this does nothing for one).
    func prefetch(_ tokens: Range<Int>) {
        guard case .memory(let all) = storage else { return }
        all.withUnsafeBufferPointer { all in
            Kernels.prefetch(all.baseAddress! + (tokens.lowerBound - storageStart), count: tokens.count)
        }
    }

    /// Throws the first failure of a read from a token file (a damaged block, an I/O error):
    /// reads happen where a batch is filled, which cannot throw, so they are checked here.
    public func checkReads() throws {
        if case .file(let reader) = storage { try reader.checkReads() }
    }

    /// Reads and tokenizes the whole file at `path` — a text, or a token file — with
    /// `tokenizer` (a token file must have been prepared with it). Every failure is an input
    /// error naming the file.
    public static func load(path: String, tokenizer: Tokenizer, vocabularySize: Int = 10_000) throws -> Corpus {
        if TokenFile.isTokenFile(path) {
            let file = try TokenFile(path: path)
            guard file.header.tokenizer == tokenizer.rawValue else {
                throw RNNDistError.input("\(path): a token file of the \(file.header.tokenizer) tokenizer, not \(tokenizer.rawValue)")
            }
            let corpus = Corpus(vocabulary: file.vocabulary, reader: file.reader(range: 0..<file.header.tokens, lanes: 1))
            let tokens = corpus.tokens
            try corpus.checkReads()
            return Corpus(vocabulary: file.vocabulary, tokens: tokens)
        }
        let file = try ReadOnlyFile(path)
        let scan = try TextPasses.scan(file, tokenizer: tokenizer, vocabularySize: vocabularySize)
        var tokens: [Int32] = []
        tokens.reserveCapacity(scan.tokens)
        try TextPasses.tokenize(file, vocabulary: scan.vocabulary) { ids in
            tokens.append(contentsOf: ids.lazy.map { Int32($0) })
        }
        return Corpus(vocabulary: scan.vocabulary, tokens: tokens)
    }

    /// Reads the text at `path` as words: the `vocabularySize` most frequent kept.
    public static func loadWords(path: String, vocabularySize: Int) throws -> Corpus {
        try load(path: path, tokenizer: .word, vocabularySize: vocabularySize)
    }

    /// The tokens with global indices in `range`, which must lie inside this corpus.
    public func slice(_ range: Range<Int>) -> Corpus {
        precondition(range.lowerBound >= firstToken && range.upperBound <= firstToken + count)
        let local = (range.lowerBound - firstToken)..<(range.upperBound - firstToken)
        return Corpus(self, range: range, scoredTargets: scoredTargets.map { Array($0[local]) })
    }

    /// The first (1 − fraction) of the tokens for training, the rest for validation.
    public func split(validationFraction fraction: Double) -> (train: Corpus, validation: Corpus) {
        let cut = Self.trainingCount(count, validationFraction: fraction)
        return (slice(firstToken..<(firstToken + cut)), slice((firstToken + cut)..<range.upperBound))
    }

    /// How many of `count` tokens are for training.
    public static func trainingCount(_ count: Int, validationFraction fraction: Double) -> Int {
        count - Int((Double(count) * fraction).rounded(.down))
    }
}
