import Foundation

/// A tokenized text: the tokens, the vocabulary they index, and — for generated tasks — which
/// tokens can be predicted at all (the random ones are excluded from the loss).
public struct Corpus: Sendable {
    public let vocabulary: Vocabulary
    public let tokens: [Int32]
    /// scoredTargets[i] == 0: token i is unpredictable and never scored as a target. nil: all are.
    public let scoredTargets: [UInt8]?

    public init(vocabulary: Vocabulary, tokens: [Int32], scoredTargets: [UInt8]? = nil) {
        precondition(scoredTargets == nil || scoredTargets!.count == tokens.count)
        self.vocabulary = vocabulary
        self.tokens = tokens
        self.scoredTargets = scoredTargets
    }

    /// Reads and tokenizes the file at `path`. Every failure is an input error naming the file.
    public static func load(path: String, tokenizer: Tokenizer) throws -> Corpus {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw RNNDistError.input("\(path): corpus not found. Get the standard corpora with `bash launch/fetch-data.sh`, or point data.path at any UTF-8 text file (--set data.path=FILE)")
        }
        guard !isDirectory.boolValue else { throw RNNDistError.input("\(path): is a directory, not a text file") }
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw RNNDistError.input("\(path): corpus is not readable")
        }
        guard !bytes.isEmpty else { throw RNNDistError.input("\(path): corpus is empty") }
        switch tokenizer {
        case .byte:
            return Corpus(vocabulary: .bytes, tokens: bytes.map { Int32($0) })
        case .char:
            guard let text = String(validating: bytes, as: UTF8.self) else {
                let offset = firstInvalidUTF8Offset(bytes) ?? 0
                throw RNNDistError.input("\(path): not valid UTF-8 (first bad byte at offset \(offset)); use data.tokenizer \"byte\" for arbitrary files")
            }
            let scalars = text.unicodeScalars.map(\.value)
            let vocabulary = Vocabulary(tokenizer: .char, symbols: scalars)
            return Corpus(vocabulary: vocabulary, tokens: scalars.map { vocabulary.token(for: $0)! })
        }
    }

    static func firstInvalidUTF8Offset(_ bytes: Data) -> Int? {
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        var offset = 0
        var consumed = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                consumed += UTF8.width(scalar)
                offset = consumed
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }

    /// The first (1 − fraction) of the tokens for training, the rest for validation (SPEC §2).
    public func split(validationFraction fraction: Double) -> (train: Corpus, validation: Corpus) {
        let cut = tokens.count - Int((Double(tokens.count) * fraction).rounded(.down))
        func part(_ range: Range<Int>) -> Corpus {
            Corpus(vocabulary: vocabulary, tokens: Array(tokens[range]), scoredTargets: scoredTargets.map { Array($0[range]) })
        }
        return (part(0..<cut), part(cut..<tokens.count))
    }
}
