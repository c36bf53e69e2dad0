import Foundation

/// How text becomes tokens (`data.tokenizer`).
public enum Tokenizer: String, Sendable, CaseIterable {
    /// One token per Unicode scalar; the file must be valid UTF-8.
    case char
    /// One token per byte, V = 256: any file at all.
    case byte
    /// Lower-cased words and punctuation marks, the `data.vocab_size` most frequent
    /// kept and the rest `<unk>`, with `<s>` and `</s>` around every sentence.
    case word
}

/// The token alphabet, numbered identically on every rank and in every run (Python's
/// `list(set(text))`, a common choice, changes from run to run). Characters and bytes are sorted by value;
/// words come after `<unk>`, `<s>`, `</s>`, most frequent first (ties alphabetical).
public struct Vocabulary: Sendable, Equatable {
    public let tokenizer: Tokenizer
    public let symbols: [UInt32]      // char, byte: the scalar or byte values
    public let words: [String]        // word: the words
    private let index: [UInt32: Int32]
    private let wordIndex: [String: Int32]

    public init(tokenizer: Tokenizer, symbols: some Sequence<UInt32>) {
        precondition(tokenizer != .word)
        self.tokenizer = tokenizer
        self.symbols = Array(Set(symbols)).sorted()
        var index: [UInt32: Int32] = [:]
        for (i, symbol) in self.symbols.enumerated() { index[symbol] = Int32(i) }
        self.index = index
        words = []
        wordIndex = [:]
    }

    /// A word vocabulary, in token order (the special tokens first).
    public init(words: [String]) {
        tokenizer = .word
        self.words = words
        var wordIndex: [String: Int32] = [:]
        for (i, word) in words.enumerated() { wordIndex[word] = Int32(i) }
        self.wordIndex = wordIndex
        symbols = []
        index = [:]
    }

    public static let bytes = Vocabulary(tokenizer: .byte, symbols: 0...255)

    public var count: Int { tokenizer == .word ? words.count : symbols.count }

    public func token(for symbol: UInt32) -> Int32? { index[symbol] }

    /// Where generation starts when no prime is given: `<s>`, or a newline (the start of a
    /// paragraph) when the vocabulary has one, else the first token.
    public var startToken: Int32 { tokenizer == .word ? 1 : index[10] ?? 0 }

    /// The tokens of `text`. Characters outside a char vocabulary are an error naming the
    /// first; words outside a word vocabulary become `<unk>`.
    public func encode(_ text: String) -> Result<[Int32], RNNDistError> {
        var tokens: [Int32] = []
        switch tokenizer {
        case .char:
            for scalar in text.unicodeScalars {
                guard let token = index[scalar.value] else {
                    return .failure(.input("the character \(String(reflecting: String(scalar))) (U+\(String(scalar.value, radix: 16, uppercase: true))) is not in the vocabulary"))
                }
                tokens.append(token)
            }
        case .byte:
            tokens = text.utf8.map { Int32($0) }
        case .word:
            tokens = WordSplitter.split(text, sentenceMarks: false).map { wordIndex[$0] ?? 0 }
        }
        return .success(tokens)
    }

    /// The text of `tokens` (bytes that are not valid UTF-8 become U+FFFD; words are joined by
    /// spaces, punctuation attached, one sentence per line).
    public func decode(_ tokens: some Sequence<Int32>) -> String {
        switch tokenizer {
        case .char:
            var scalars = String.UnicodeScalarView()
            for token in tokens { scalars.append(Unicode.Scalar(symbols[Int(token)])!) }
            return String(scalars)
        case .byte:
            return String(decoding: tokens.map { UInt8(symbols[Int($0)]) }, as: UTF8.self)
        case .word:
            return WordSplitter.join(tokens.map { words[Int($0)] })
        }
    }
}

/// Seed 001's word-level text: lower-cased words (letters, digits, inner apostrophes) and
/// punctuation marks as tokens of their own, sentences marked with `<s>` … `</s>`.
public enum WordSplitter {
    public static let unknown = "<unk>", sentenceStart = "<s>", sentenceEnd = "</s>"
    static let sentenceEnders: Set<Character> = [".", "!", "?"]

    /// The tokens of `text`; with `sentenceMarks`, `<s>` opens the text and every sentence
    /// after a . ! or ?, and `</s>` closes each. (`WordStream` does the splitting, so that a
    /// text and a file of any size split alike.)
    public static func split(_ text: String, sentenceMarks: Bool = true) -> [String] {
        struct Collect: WordSink {
            var tokens: [String] = []
            mutating func take(_ token: WordStream.Token) {
                switch token {
                case .sentenceStart: tokens.append(WordSplitter.sentenceStart)
                case .sentenceEnd: tokens.append(WordSplitter.sentenceEnd)
                case .word(let bytes, _): tokens.append(String(decoding: bytes, as: UTF8.self))
                }
            }
        }
        var stream = WordStream(sentenceMarks: sentenceMarks)
        var collect = Collect()
        var text = text
        // Valid UTF-8 by construction, so neither call can fail.
        try! text.withUTF8 { try stream.feed(UnsafeRawBufferPointer($0), offset: 0, into: &collect) }
        try! stream.finish(into: &collect)
        let tokens = collect.tokens
        return tokens
    }

    /// The `size` − 3 most frequent tokens of `tokens` after the three special ones, counted
    /// as a corpus is (`WordCounter`): exactly until `countingAtMost` distinct words (by
    /// default the larger of 2²¹ and 4 × `size`) are held, approximately beyond.
    public static func vocabulary(of tokens: [String], size: Int, countingAtMost limit: Int? = nil) -> Vocabulary {
        var counter = WordCounter(vocabularySize: size, limit: limit)
        for token in tokens where token != sentenceStart && token != sentenceEnd {
            var token = token.utf8.contains { $0 >= 0x80 } ? token.precomposedStringWithCanonicalMapping : token
            token.withUTF8 { bytes in
                let bytes = UnsafeRawBufferPointer(bytes)
                counter.take(.word(bytes, hash: WordTable.hash(bytes)))
            }
        }
        return counter.vocabulary(size: size)
    }

    /// Words with spaces between, no space before punctuation, a line per sentence.
    public static func join(_ words: [String]) -> String {
        var text = ""
        for word in words {
            switch word {
            case sentenceStart: continue
            case sentenceEnd: text += "\n"
            default:
                let attached = word.count == 1 && !(word.first!.isLetter || word.first!.isNumber)
                if !text.isEmpty && !text.hasSuffix("\n") && !attached { text += " " }
                text += word
            }
        }
        return text
    }
}
