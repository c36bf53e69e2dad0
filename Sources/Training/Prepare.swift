import Foundation

/// `rnn-dist prepare`: a text corpus tokenized once, as the config's tokenizer would, into a
/// token file (`TokenFile`) that training reads instead of the text. Memory stays bounded: a
/// block of text, a block of tokens and the vocabulary (for words a table of at most
/// `WordCounter.limit` words). Characters and words take two reads of the text (the first
/// finds the vocabulary, on which every id depends), bytes one.
public enum Preparation {
    public struct Summary: Sendable {
        public var path: String
        public var header: TokenFile.Header
        public var seconds: Double
        /// Source bytes per second over the whole preparation.
        public var bytesPerSecond: Double { Double(header.source.size) / max(seconds, 1e-9) }
    }

    /// Prepares the corpus `config.data.path` into `output` (default: the corpus path with
    /// `.tokens` appended). `progress` hears the phase, bytes done and bytes to do; it is
    /// called at most once per block.
    public static func run(config: Config, output: String? = nil,
                           progress: (_ phase: String, _ done: Int, _ total: Int) -> Void = { _, _, _ in }) throws -> Summary {
        guard config.data.synthetic == nil, let path = config.data.path else {
            throw RNNDistError.input("\(config.source): data.synthetic is generated at start-up; there is no corpus to prepare")
        }
        let output = output ?? path + TokenFile.suffix
        let file = try ReadOnlyFile(path)
        guard !TokenFile.isTokenFile(path) else {
            throw RNNDistError.input("\(path): is already a token file; train from it directly (data.path)")
        }
        guard URL(fileURLWithPath: output).standardizedFileURL != URL(fileURLWithPath: path).standardizedFileURL else {
            throw RNNDistError.input("--output \(output): would overwrite the corpus itself")
        }
        let before = ReadOnlyFile.status(of: path)!
        let start = Date()
        let tokenizer = config.data.tokenizer
        let scan: TextPasses.Scan
        if tokenizer == .byte {
            // The vocabulary is known before reading: one pass, checksummed on the way.
            scan = TextPasses.Scan(vocabulary: .bytes, tokens: file.size, checksum: 0)
            guard file.size > 0 else { throw RNNDistError.input("\(path): corpus is empty") }
        } else {
            let phase = tokenizer == .word ? "counting words" : "finding characters"
            scan = try TextPasses.scan(file, tokenizer: tokenizer, vocabularySize: config.data.vocabSize) {
                progress(phase, $0, 2 * file.size)
            }
        }
        let vocabulary = scan.vocabulary
        let width = TokenFile.width(forVocabulary: vocabulary.count)
        let trainTokens = Corpus.trainingCount(scan.tokens, validationFraction: config.data.valFraction)
        var header = TokenFile.Header(
            tokenizer: tokenizer.rawValue, vocabSize: tokenizer == .word ? config.data.vocabSize : nil,
            symbols: tokenizer == .char ? vocabulary.symbols : nil, words: tokenizer == .word ? vocabulary.words : nil,
            vocabulary: vocabulary.count, tokenWidth: width, tokens: scan.tokens, valFraction: config.data.valFraction,
            trainTokens: trainTokens, validationTokens: scan.tokens - trainTokens, blockBytes: TokenFile.blockBytes,
            dataOffset: 0,
            source: TokenFile.Source(path: URL(fileURLWithPath: path).standardizedFileURL.path, size: before.size,
                                     modified: before.modified, checksum: scan.checksum.checksumText),
            wordCounts: scan.wordCounts)

        let writer = try TokenFileWriter(path: output, header: header)
        do {
            if tokenizer == .byte {
                var hasher = XXH64()
                try file.forEachBlock { block, offset in
                    hasher.update(block)
                    try writer.append(bytes: block)
                    progress("writing tokens", offset + block.count, file.size)
                }
                header.source.checksum = hasher.finish().checksumText
            } else {
                try TextPasses.tokenize(file, vocabulary: vocabulary, progress: { progress("writing tokens", file.size + $0, 2 * file.size) }) {
                    try writer.append($0)
                }
            }
            guard let after = ReadOnlyFile.status(of: path), after.size == before.size, after.modified == before.modified else {
                throw RNNDistError.input("\(path): the corpus changed while it was being prepared; prepare it again")
            }
            header = try writer.finish(header: header)
        } catch {
            writer.abandon()
            throw error
        }
        return Summary(path: output, header: header, seconds: Date().timeIntervalSince(start))
    }
}

/// Writes a token file: a temporary file beside the destination, the header's space reserved,
/// the tokens a block at a time (each block's checksum taken as it is written), then the header
/// and checksums, fsync, and a rename — so a crash or a full disk never leaves a half-written
/// file under the final name.
final class TokenFileWriter {
    let path: String
    let temporary: String
    private let descriptor: Int32
    private let width: Int
    private let expectedTokens: Int
    private var block: UnsafeMutableRawBufferPointer   // one block of token bytes
    private var filled = 0
    private var written = 0        // token bytes written to the file
    private var checksums: [UInt64] = []
    private let dataOffset: Int

    init(path: String, header: TokenFile.Header) throws {
        self.path = path
        temporary = path + ".tmp-\(getpid())"
        width = header.tokenWidth
        expectedTokens = header.tokens
        dataOffset = try Self.encode(header).dataOffset
        descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw RNNDistError.input("\(path): cannot create the token file (\(String(cString: strerror(errno))))")
        }
        block = .allocate(byteCount: TokenFile.blockBytes, alignment: 64)
        guard ftruncate(descriptor, off_t(dataOffset)) == 0, lseek(descriptor, off_t(dataOffset), SEEK_SET) >= 0 else {
            let message = String(cString: strerror(errno))
            abandon()
            throw RNNDistError.input("\(path): cannot write the token file (\(message))")
        }
    }

    deinit {
        block.deallocate()
        close(descriptor)
    }

    /// The header's bytes (preamble, JSON) and the offset at which the tokens start: past the
    /// checksums, rounded up to 4096. The offset is part of the JSON, so its length is
    /// settled by repeating until it no longer moves.
    static func encode(_ header: TokenFile.Header) throws -> (bytes: [UInt8], dataOffset: Int) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var header = header
        let K = TokenFile.blockCount(tokens: header.tokens, width: header.tokenWidth)
        while true {
            let json = try encoder.encode(header)
            let offset = (16 + json.count + 8 * (K + 1) + 4095) / 4096 * 4096
            if offset == header.dataOffset {
                var bytes = TokenFile.magic
                withUnsafeBytes(of: TokenFile.version.littleEndian) { bytes += $0 }
                withUnsafeBytes(of: UInt32(json.count).littleEndian) { bytes += $0 }
                return (bytes + json, offset)
            }
            header.dataOffset = offset
        }
    }

    func append(_ ids: UnsafeBufferPointer<UInt32>) throws {
        var i = 0
        while i < ids.count {
            let room = (block.count - filled) / width
            let n = min(room, ids.count - i)
            let out = block.baseAddress! + filled
            switch width {
            case 1: for j in 0..<n { out.storeBytes(of: UInt8(truncatingIfNeeded: ids[i + j]), toByteOffset: j, as: UInt8.self) }
            case 2: for j in 0..<n { out.storeBytes(of: UInt16(truncatingIfNeeded: ids[i + j]).littleEndian, toByteOffset: 2 * j, as: UInt16.self) }
            default: for j in 0..<n { out.storeBytes(of: ids[i + j].littleEndian, toByteOffset: 4 * j, as: UInt32.self) }
            }
            filled += n * width
            i += n
            if filled == block.count { try flushBlock() }
        }
    }

    /// Bytes that are already tokens (the byte tokenizer).
    func append(bytes: UnsafeRawBufferPointer) throws {
        precondition(width == 1)
        var i = 0
        while i < bytes.count {
            let n = min(block.count - filled, bytes.count - i)
            (block.baseAddress! + filled).copyMemory(from: bytes.baseAddress! + i, byteCount: n)
            filled += n
            i += n
            if filled == block.count { try flushBlock() }
        }
    }

    private func flushBlock() throws {
        guard filled > 0 else { return }
        let bytes = UnsafeRawBufferPointer(rebasing: block[..<filled])
        checksums.append(XXH64.hash(bytes))
        try write(bytes, at: dataOffset + written)
        written += filled
        filled = 0
    }

    private func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw RNNDistError.input("\(path): cannot write the token file (\(String(cString: strerror(errno))))")
            }
            done += n
        }
    }

    /// Writes the header (with `header`'s final fields) and checksums, makes the file durable
    /// and gives it its name; returns the header as written.
    func finish(header: TokenFile.Header) throws -> TokenFile.Header {
        try flushBlock()
        guard written == expectedTokens * width else {
            throw RNNDistError.runtime("\(path): wrote \(written / width) tokens, the scan counted \(expectedTokens)")
        }
        let (front, offset) = try Self.encode(header)
        precondition(offset == dataOffset, "the header's size changed after the tokens were placed")
        var header = header
        header.dataOffset = offset
        var bytes = front
        checksums.map(\.littleEndian).withUnsafeBytes { bytes += $0 }
        let headerChecksum = XXH64.hash(bytes)
        withUnsafeBytes(of: headerChecksum.littleEndian) { bytes += $0 }
        try bytes.withUnsafeBytes { try write($0, at: 0) }
        guard fsync(descriptor) == 0 else {
            throw RNNDistError.input("\(path): cannot write the token file (\(String(cString: strerror(errno))))")
        }
        guard rename(temporary, path) == 0 else {
            throw RNNDistError.input("\(path): cannot create the token file (\(String(cString: strerror(errno))))")
        }
        let directory = open((path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent,
                             O_RDONLY | O_DIRECTORY)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
        return header
    }

    /// Removes the temporary file after a failure.
    func abandon() { unlink(temporary) }
}
