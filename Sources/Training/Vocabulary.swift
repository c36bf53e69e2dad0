/// How text becomes tokens (SPEC §2).
public enum Tokenizer: String, Sendable, CaseIterable {
    /// One token per Unicode scalar; the file must be valid UTF-8.
    case char
    /// One token per byte, V = 256: any file at all.
    case byte
}

/// The token alphabet, sorted so that every rank (and every run) numbers it identically — the
/// seeds' `list(set(text))` order changes from run to run. Symbols are Unicode scalar values
/// (`char`) or byte values (`byte`).
public struct Vocabulary: Sendable, Equatable {
    public let tokenizer: Tokenizer
    public let symbols: [UInt32]
    private let index: [UInt32: Int32]

    public init(tokenizer: Tokenizer, symbols: some Sequence<UInt32>) {
        self.tokenizer = tokenizer
        self.symbols = Array(Set(symbols)).sorted()
        var index: [UInt32: Int32] = [:]
        for (i, symbol) in self.symbols.enumerated() { index[symbol] = Int32(i) }
        self.index = index
    }

    public static let bytes = Vocabulary(tokenizer: .byte, symbols: 0...255)

    public var count: Int { symbols.count }

    public func token(for symbol: UInt32) -> Int32? { index[symbol] }

    /// The tokens of `text`, or nil naming the first character the vocabulary lacks.
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
        }
        return .success(tokens)
    }

    /// The text of `tokens` (bytes that are not valid UTF-8 become U+FFFD).
    public func decode(_ tokens: some Sequence<Int32>) -> String {
        switch tokenizer {
        case .char:
            var scalars = String.UnicodeScalarView()
            for token in tokens { scalars.append(Unicode.Scalar(symbols[Int(token)])!) }
            return String(scalars)
        case .byte:
            return String(decoding: tokens.map { UInt8(symbols[Int($0)]) }, as: UTF8.self)
        }
    }
}
