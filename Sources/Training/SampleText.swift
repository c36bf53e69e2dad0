/// Text of tokens as they come, one at a time: the pieces, joined, are exactly what
/// `Vocabulary.decode` makes of all the tokens at once.
///
/// - char: each token is one Unicode scalar.
/// - byte: bytes are held back while they may still be the start of a UTF-8 sequence, so a
///   character split over tokens is printed whole, and an invalid sequence becomes U+FFFD
///   exactly as decoding the whole text would make it.
/// - word: each word with the space `WordSplitter.join` would put before it.
public struct TokenTextDecoder: Sendable {
    public let vocabulary: Vocabulary
    private var heldBytes: [UInt8] = []   // byte: the start of a UTF-8 sequence still incomplete
    private var atLineStart = true        // word: no space before the next word

    public init(vocabulary: Vocabulary) { self.vocabulary = vocabulary }

    /// Whether some token's text is still held back (waiting for the rest of a UTF-8 sequence).
    public var isHolding: Bool { !heldBytes.isEmpty }

    /// The text that `token` completes.
    public mutating func append(_ token: Int32) -> String {
        switch vocabulary.tokenizer {
        case .char:
            return vocabulary.decode([token])
        case .byte:
            heldBytes.append(UInt8(vocabulary.symbols[Int(token)]))
            let cut = Self.completePrefix(heldBytes)
            defer { heldBytes.removeFirst(cut) }
            return String(decoding: heldBytes[..<cut], as: UTF8.self)
        case .word:
            // join's own spacing: the piece a word adds after a word ("a") is its separator
            // and itself; at the start of a line it has none.
            let word = vocabulary.words[Int(token)]
            let piece = atLineStart ? WordSplitter.join([word]) : String(WordSplitter.join(["a", word]).dropFirst())
            if !piece.isEmpty { atLineStart = piece.hasSuffix("\n") }
            return piece
        }
    }

    /// What is still held back, decoded as the end of the text.
    public mutating func finish() -> String {
        defer { heldBytes = [] }
        return String(decoding: heldBytes, as: UTF8.self)
    }

    /// How many of `bytes` can be decoded now: all but an incomplete UTF-8 sequence at the end.
    /// A byte that is not a continuation byte (10xxxxxx) always starts a new sequence, so the
    /// text before it decodes the same whatever follows.
    static func completePrefix(_ bytes: [UInt8]) -> Int {
        var lead = bytes.count - 1
        while lead > 0 && bytes.count - lead < 4 && bytes[lead] & 0xC0 == 0x80 { lead -= 1 }
        guard lead >= 0, bytes[lead] & 0xC0 != 0x80 else { return bytes.count }
        let expected: Int
        switch bytes[lead] {
        case 0xC2...0xDF: expected = 2
        case 0xE0...0xEF: expected = 3
        case 0xF0...0xF4: expected = 4
        default: expected = 1
        }
        return bytes.count - lead < expected ? lead : bytes.count
    }
}

/// One sample's generated text on its way out: tokens in, the bytes to print out, ended at the
/// first occurrence of any stop text (which is not printed). Text that might be the start of a
/// stop text is held back until it is known not to be, so what was printed never needs taking
/// back, and a match is only looked for in the generated text (not the prime).
///
/// It counts the tokens printed and sums their log-probabilities: every token whose text lies
/// wholly before the match (for char and byte models, exactly the tokens of the printed text).
public struct SampleText: Sendable {
    public private(set) var tokens = 0
    public private(set) var logprob = 0.0
    public private(set) var stopped = false
    private var decoder: TokenTextDecoder
    private let stops: [[UInt8]]
    private var pending: [UInt8] = []          // decoded, not yet printed: it may begin a stop text
    private var printed = 0                    // bytes handed out so far
    private var decoded = 0                    // bytes decoded so far (printed + pending)
    /// Tokens not yet wholly printed: where their text ends (nil while the decoder holds it).
    private var unprinted: [(end: Int?, logprob: Double)] = []

    /// A sample after `prime` (the tokens the user gave, whose text was printed before it).
    public init(vocabulary: Vocabulary, prime: [Int32], stops: [String]) {
        precondition(stops.allSatisfy { !$0.isEmpty })
        decoder = TokenTextDecoder(vocabulary: vocabulary)
        for token in prime { _ = decoder.append(token) }
        self.stops = stops.map { Array($0.utf8) }
    }

    /// The bytes that `token` lets out. After a stop text matched, nothing more is taken.
    public mutating func append(_ token: Int32, logprob: Double) -> [UInt8] {
        precondition(!stopped)
        let piece = Array(decoder.append(token).utf8)
        unprinted.append((nil, logprob))
        return release(piece, final: false)
    }

    /// The rest: what was held back, at the end of the sample.
    public mutating func finish() -> [UInt8] {
        stopped ? [] : release(Array(decoder.finish().utf8), final: true)
    }

    private mutating func release(_ piece: [UInt8], final: Bool) -> [UInt8] {
        pending += piece
        decoded += piece.count
        if !decoder.isHolding {
            for i in unprinted.indices where unprinted[i].end == nil { unprinted[i].end = decoded }
        }
        if let match = firstMatch() {
            stopped = true
            commit(through: printed + match)
            defer { pending = [] }
            return Array(pending[..<match])
        }
        let held = final ? 0 : heldBack()
        let out = Array(pending[..<(pending.count - held)])
        pending.removeFirst(out.count)
        printed += out.count
        commit(through: printed)
        return out
    }

    /// Counts the tokens whose text ends at or before byte `offset` of the generated text.
    private mutating func commit(through offset: Int) {
        while let first = unprinted.first, let end = first.end, end <= offset {
            tokens += 1
            logprob += first.logprob
            unprinted.removeFirst()
        }
    }

    /// Where in `pending` the earliest stop text starts, if one is there whole.
    private func firstMatch() -> Int? {
        guard !stops.isEmpty, !pending.isEmpty else { return nil }
        for start in pending.indices {
            for stop in stops where pending.count - start >= stop.count {
                if pending[start..<(start + stop.count)].elementsEqual(stop) { return start }
            }
        }
        return nil
    }

    /// The length of the longest end of `pending` that begins some stop text: it must wait.
    private func heldBack() -> Int {
        var longest = 0
        for stop in stops {
            for length in stride(from: min(stop.count - 1, pending.count), to: longest, by: -1)
            where pending.suffix(length).elementsEqual(stop.prefix(length)) {
                longest = length
                break
            }
        }
        return longest
    }
}
