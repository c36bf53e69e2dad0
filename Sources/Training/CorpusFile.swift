import Foundation

/// A corpus file read in pieces, so that no rank holds more of a large corpus than its shard.
/// Rank 0 scans the file once for the vocabulary, token count and checksum, and once more for
/// the byte offsets at which the ranks' shards start and end; every rank then reads its own
/// byte ranges. With the byte tokenizer a token index is a byte offset (the scan only checksums).
public enum CorpusFile {
    /// The sorted symbols of the file, how many tokens it holds and the XXH64 of its bytes.
    public static func scan(path: String, tokenizer: Tokenizer) throws -> (symbols: [UInt32], tokenCount: Int, checksum: UInt64) {
        precondition(tokenizer != .word, "word corpora are counted by TextPasses")
        let scan = try TextPasses.scan(ReadOnlyFile(path), tokenizer: tokenizer, vocabularySize: 0)
        return (scan.vocabulary.symbols, scan.tokens, scan.checksum)
    }

    /// The byte offset at which each of `tokenIndices` (ascending, each <= the token count)
    /// starts; the token count itself maps to the file size.
    public static func byteOffsets(path: String, tokenizer: Tokenizer, tokenIndices: [Int]) throws -> [Int] {
        precondition(tokenIndices == tokenIndices.sorted())
        guard tokenizer == .char else { return tokenIndices }
        let file = try ReadOnlyFile(path)
        var offsets: [Int] = []
        offsets.reserveCapacity(tokenIndices.count)
        var next = 0
        var token = 0
        var stream = UTF8Stream(path: path)
        // Stops reading at the block that holds the last index asked for.
        struct Done: Error {}
        do {
            try file.forEachBlock { block, _ in
                try stream.decode(block) { _, offset in
                    while next < tokenIndices.count && tokenIndices[next] == token {
                        offsets.append(offset)
                        next += 1
                    }
                    token += 1
                }
                if next == tokenIndices.count { throw Done() }
            }
            try stream.finish()
        } catch is Done {}
        while next < tokenIndices.count && tokenIndices[next] == token {  // indices equal to the count
            offsets.append(file.size)
            next += 1
        }
        guard offsets.count == tokenIndices.count else {
            throw RNNDistError.input("\(path): the file has fewer tokens than when it was scanned (did it change?)")
        }
        return offsets
    }

    /// The tokens stored in bytes `bytes` of the file, which must decode to `expectedTokens`
    /// tokens of `vocabulary`.
    public static func read(path: String, vocabulary: Vocabulary, bytes: Range<Int>, expectedTokens: Int) throws -> [Int32] {
        let file = try ReadOnlyFile(path)
        var data = Data(count: bytes.count)
        let got = try data.withUnsafeMutableBytes { try file.read(into: $0, at: bytes.lowerBound) }
        data.count = got
        guard data.count == bytes.count else {
            throw RNNDistError.input("\(path): cannot read bytes \(bytes.lowerBound)..<\(bytes.upperBound) of the corpus (only \(bytes.lowerBound + data.count) bytes there; is it the same file on every node?)")
        }
        var tokens: [Int32]
        switch vocabulary.tokenizer {
        case .byte:
            tokens = data.map { Int32($0) }
        case .word:
            preconditionFailure("word corpora are tokenized by TextPasses")
        case .char:
            var ids = [Int32](repeating: -1, count: 0x110000)
            for (id, symbol) in vocabulary.symbols.enumerated() { ids[Int(symbol)] = Int32(id) }
            tokens = []
            tokens.reserveCapacity(expectedTokens)
            var stream = UTF8Stream(path: path)
            var stranger: UInt32?
            do {
                try data.withUnsafeBytes { bytes in
                    try ids.withUnsafeBufferPointer { ids in
                        try stream.decode(bytes) { scalar, _ in
                            let id = ids[Int(scalar)]
                            guard id >= 0 else {
                                stranger = scalar
                                throw RNNDistError.input("")
                            }
                            tokens.append(id)
                        }
                    }
                }
                try stream.finish()
            } catch {
                guard let stranger else {
                    throw RNNDistError.input("\(path): bytes \(bytes.lowerBound)..<\(bytes.upperBound) are not valid UTF-8 (is it the same file on every node?)")
                }
                throw RNNDistError.input("\(path): U+\(String(stranger, radix: 16, uppercase: true)) at bytes \(bytes.lowerBound)..<\(bytes.upperBound) is not in the vocabulary rank 0 scanned (is it the same file on every node?)")
            }
        }
        guard tokens.count == expectedTokens else {
            throw RNNDistError.input("\(path): bytes \(bytes.lowerBound)..<\(bytes.upperBound) hold \(tokens.count) tokens, expected \(expectedTokens) (did the file change?)")
        }
        return tokens
    }
}
