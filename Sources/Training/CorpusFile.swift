import Foundation

/// A corpus file read in pieces, so that no rank holds more of a large corpus than its shard.
/// Rank 0 scans the file once for the vocabulary and token count, and once more for
/// the byte offsets at which the ranks' shards start and end; every rank then seeks to its own
/// byte ranges. With the byte tokenizer a token index is a byte offset and nothing is scanned.
public enum CorpusFile {
    /// The sorted symbols of the file and how many tokens it holds.
    public static func scan(path: String, tokenizer: Tokenizer) throws -> (symbols: [UInt32], tokenCount: Int) {
        let handle = try open(path)
        defer { try? handle.close() }
        switch tokenizer {
        case .byte:
            let size = Int(try handle.seekToEnd())
            guard size > 0 else { throw RNNDistError.input("\(path): corpus is empty") }
            return (Array(0...255), size)
        case .char, .word:
            var seen = Set<UInt32>()
            var count = 0
            try forEachScalar(in: handle, path: path) { scalar, _ in
                seen.insert(scalar)
                count += 1
                return true
            }
            guard count > 0 else { throw RNNDistError.input("\(path): corpus is empty") }
            return (seen.sorted(), count)
        }
    }

    /// The byte offset at which each of `tokenIndices` (ascending, each <= the token count)
    /// starts; the token count itself maps to the file size.
    public static func byteOffsets(path: String, tokenizer: Tokenizer, tokenIndices: [Int]) throws -> [Int] {
        precondition(tokenIndices == tokenIndices.sorted())
        guard tokenizer == .char else { return tokenIndices }
        let handle = try open(path)
        defer { try? handle.close() }
        var offsets: [Int] = []
        offsets.reserveCapacity(tokenIndices.count)
        var next = 0
        var token = 0
        var end = 0
        try forEachScalar(in: handle, path: path) { scalar, offset in
            while next < tokenIndices.count && tokenIndices[next] == token {
                offsets.append(offset)
                next += 1
            }
            token += 1
            end = offset + UTF8.width(Unicode.Scalar(scalar)!)
            return next < tokenIndices.count
        }
        while next < tokenIndices.count && tokenIndices[next] == token {  // indices equal to the count
            offsets.append(end)
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
        let handle = try open(path)
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(bytes.lowerBound))
        let data = try handle.read(upToCount: bytes.count) ?? Data()
        guard data.count == bytes.count else {
            throw RNNDistError.input("\(path): cannot read bytes \(bytes.lowerBound)..<\(bytes.upperBound) of the corpus (only \(bytes.lowerBound + data.count) bytes there; is it the same file on every node?)")
        }
        var tokens: [Int32]
        switch vocabulary.tokenizer {
        case .byte:
            tokens = data.map { Int32($0) }
        case .word:
            preconditionFailure("word corpora are read whole, by Corpus.loadWords")
        case .char:
            guard let text = String(validating: data, as: UTF8.self) else {
                throw RNNDistError.input("\(path): bytes \(bytes.lowerBound)..<\(bytes.upperBound) are not valid UTF-8 (is it the same file on every node?)")
            }
            tokens = []
            tokens.reserveCapacity(expectedTokens)
            for scalar in text.unicodeScalars {
                guard let token = vocabulary.token(for: scalar.value) else {
                    throw RNNDistError.input("\(path): U+\(String(scalar.value, radix: 16, uppercase: true)) at bytes \(bytes.lowerBound)..<\(bytes.upperBound) is not in the vocabulary rank 0 scanned (is it the same file on every node?)")
                }
                tokens.append(token)
            }
        }
        guard tokens.count == expectedTokens else {
            throw RNNDistError.input("\(path): bytes \(bytes.lowerBound)..<\(bytes.upperBound) hold \(tokens.count) tokens, expected \(expectedTokens) (did the file change?)")
        }
        return tokens
    }

    static func open(_ path: String) throws -> FileHandle {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw RNNDistError.input("\(path): corpus not found. Get the standard corpora with `bash launch/fetch-data.sh`, or point data.path at any UTF-8 text file (--set data.path=FILE)")
        }
        guard !isDirectory.boolValue else { throw RNNDistError.input("\(path): is a directory, not a text file") }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw RNNDistError.input("\(path): corpus is not readable")
        }
        return handle
    }

    /// Decodes the file as UTF-8 in blocks, calling `visit(scalar, byteOffset)` until it
    /// returns false. Invalid UTF-8 is an input error giving the offset of the first bad byte.
    static func forEachScalar(in handle: FileHandle, path: String,
                              _ visit: (UInt32, Int) throws -> Bool) throws {
        var bytes = BlockIterator(handle: handle)
        var decoder = UTF8()
        var offset = 0
        while true {
            switch decoder.decode(&bytes) {
            case .scalarValue(let scalar):
                guard try visit(scalar.value, offset) else { return }
                offset += UTF8.width(scalar)
            case .emptyInput:
                if let error = bytes.error { throw RNNDistError.input("\(path): read failed (\(error.localizedDescription))") }
                return
            case .error:
                throw RNNDistError.input("\(path): not valid UTF-8 (first bad byte at offset \(offset)); use data.tokenizer \"byte\" for arbitrary files")
            }
        }
    }

    /// The bytes of a file, read 4 MiB at a time.
    struct BlockIterator: IteratorProtocol {
        let handle: FileHandle
        var block: [UInt8] = []
        var index = 0
        var error: Error?

        init(handle: FileHandle) { self.handle = handle }

        mutating func next() -> UInt8? {
            if index == block.count {
                do {
                    guard let data = try handle.read(upToCount: 4 << 20), !data.isEmpty else { return nil }
                    block = [UInt8](data)
                    index = 0
                } catch {
                    self.error = error
                    return nil
                }
            }
            defer { index += 1 }
            return block[index]
        }
    }
}
