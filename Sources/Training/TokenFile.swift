import Foundation

/// A prepared corpus (`rnn-dist prepare`): the tokens of a text in the narrowest unsigned width
/// that holds the vocabulary, behind a header that says how they were made, so that training
/// starts without reading the text and every rank reads only the tokens it trains on.
///
/// On disk, little-endian:
///
///     "RNNDTOKS" | version: UInt32 | header length H: UInt32 | header (JSON, UTF-8)
///     | block checksums: UInt64 × K | header checksum: XXH64 of every byte before it: UInt64
///     | zeros up to `dataOffset` (a multiple of 4096) | tokens: UInt8, UInt16 or UInt32 × N
///
/// The header holds the tokenizer and its settings, the vocabulary (ids in order), the token
/// width, the token counts, and the source text's path, size, modification time and checksum.
/// Block k is bytes k·`blockBytes` ..< (k+1)·`blockBytes` of the token region (the last one
/// shorter); its XXH64 is checksum k. A rank verifies each block the first time it reads from it
/// (`TokenFileReader`), so start-up reads the header alone, whatever the corpus's size.
public struct TokenFile: Sendable {
    public static let magic = Array("RNNDTOKS".utf8)
    public static let version: UInt32 = 1
    public static let blockBytes = 1 << 20
    /// What `prepare` appends to the corpus's path by default.
    public static let suffix = ".tokens"

    /// The text a token file was made from, to tell when it has changed since.
    public struct Source: Codable, Sendable, Equatable {
        public var path: String          // absolute
        public var size: Int
        public var modified: Int64       // nanoseconds since 1970
        public var checksum: String      // XXH64 of the text, "xxh64:…"
    }

    public struct Header: Codable, Sendable, Equatable {
        public var tokenizer: String
        public var vocabSize: Int?       // word: the data.vocab_size it was prepared with
        public var symbols: [UInt32]?    // char: the vocabulary, in id order
        public var words: [String]?      // word: the vocabulary, in id order
        public var vocabulary: Int       // V
        public var tokenWidth: Int       // bytes per token: 1, 2 or 4
        public var tokens: Int           // N
        public var valFraction: Double   // the config's when prepared; training splits by its own
        public var trainTokens: Int
        public var validationTokens: Int
        public var blockBytes: Int
        public var dataOffset: Int
        public var source: Source
        public var wordCounts: String?   // word: "exact", or how far counts may be off
    }

    public let path: String
    public let header: Header
    public let blockChecksums: [UInt64]
    public let vocabulary: Vocabulary
    let file: ReadOnlyFile

    /// The narrowest unsigned width that holds ids 0 ..< V.
    public static func width(forVocabulary count: Int) -> Int {
        count <= 1 << 8 ? 1 : count <= 1 << 16 ? 2 : 4
    }

    public static func blockCount(tokens: Int, width: Int) -> Int {
        (tokens * width + blockBytes - 1) / blockBytes
    }

    /// Whether the file at `path` starts with a token file's magic number (a missing or short
    /// file does not).
    public static func isTokenFile(_ path: String) -> Bool {
        guard let file = try? ReadOnlyFile(path), file.size >= magic.count else { return false }
        var bytes = [UInt8](repeating: 0, count: magic.count)
        let got = (try? bytes.withUnsafeMutableBytes { try file.read(into: $0, at: 0) }) ?? 0
        return got == magic.count && bytes == magic
    }

    /// Opens and verifies the header of the token file at `path` (not its tokens: each rank
    /// verifies the blocks it reads). A short, damaged or inconsistent header is an input error
    /// naming the file.
    public init(path: String) throws {
        func damaged(_ why: String) -> RNNDistError {
            .input("\(path): damaged token file (\(why)); prepare it again with `rnn-dist prepare`")
        }
        let file = try ReadOnlyFile(path)
        var preamble = [UInt8](repeating: 0, count: 16)
        let got = try preamble.withUnsafeMutableBytes { try file.read(into: $0, at: 0) }
        guard got >= 8, Array(preamble[0..<8]) == Self.magic else { throw damaged("no token file magic number") }
        guard got == 16 else { throw damaged("truncated: \(file.size) bytes, shorter than its header") }
        let version = preamble.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) }
        guard version == Self.version else {
            throw RNNDistError.input("\(path): token file format version \(version); this build reads version \(Self.version) (prepare it again with this build)")
        }
        let headerLength = preamble.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 12, as: UInt32.self))) }
        guard 16 + headerLength + 8 <= file.size else { throw damaged("truncated: \(file.size) bytes, shorter than its header") }
        var json = [UInt8](repeating: 0, count: headerLength)
        _ = try json.withUnsafeMutableBytes { try file.read(into: $0, at: 16) }
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: Data(json)) } catch { throw damaged("unreadable header") }
        guard header.blockBytes == Self.blockBytes, [1, 2, 4].contains(header.tokenWidth), header.tokens >= 0 else {
            throw damaged("unreadable header")
        }
        let K = Self.blockCount(tokens: header.tokens, width: header.tokenWidth)
        let tableEnd = 16 + headerLength + 8 * K
        guard tableEnd + 8 <= header.dataOffset else { throw damaged("unreadable header") }
        guard tableEnd + 8 <= file.size else { throw damaged("truncated: \(file.size) bytes, shorter than its header") }
        var table = [UInt64](repeating: 0, count: K + 1)   // the block checksums, then the header's
        let tableBytes = try table.withUnsafeMutableBytes { try file.read(into: $0, at: 16 + headerLength) }
        guard tableBytes == 8 * (K + 1) else { throw damaged("truncated: \(file.size) bytes, shorter than its header") }
        table = table.map { UInt64(littleEndian: $0) }
        var hasher = XXH64()
        preamble.withUnsafeBytes { hasher.update($0) }
        json.withUnsafeBytes { hasher.update($0) }
        table.dropLast().map(\.littleEndian).withUnsafeBytes { hasher.update($0) }
        guard hasher.finish() == table[K] else { throw damaged("header checksum mismatch") }
        let expected = header.dataOffset + header.tokens * header.tokenWidth
        guard file.size >= expected else {
            throw damaged("truncated: \(file.size) bytes, its header says \(expected)")
        }
        guard file.size == expected else { throw damaged("\(file.size - expected) bytes after its tokens") }
        guard header.tokens > 0 else { throw RNNDistError.input("\(path): the token file holds no tokens (its corpus was empty)") }

        let vocabulary: Vocabulary
        switch Tokenizer(rawValue: header.tokenizer) {
        case .byte?: vocabulary = .bytes
        case .char?: vocabulary = Vocabulary(tokenizer: .char, symbols: header.symbols ?? [])
        case .word?: vocabulary = Vocabulary(words: header.words ?? [])
        case nil: throw damaged("unknown tokenizer '\(header.tokenizer)'")
        }
        guard vocabulary.count == header.vocabulary, header.vocabulary > 0,
              header.tokenWidth == Self.width(forVocabulary: header.vocabulary),
              header.symbols.map({ $0 == vocabulary.symbols }) ?? true else {
            throw damaged("its vocabulary does not match its header")
        }
        self.path = path
        self.header = header
        self.blockChecksums = Array(table.dropLast())
        self.vocabulary = vocabulary
        self.file = file
    }

    /// A token file of another tokenizer or vocabulary size than `config` asks for is an input
    /// error saying which.
    public func check(against config: Config) throws {
        let wanted = config.data.tokenizer
        guard header.tokenizer == wanted.rawValue else {
            throw RNNDistError.input("\(path): a token file of the \(header.tokenizer) tokenizer; the config asks for data.tokenizer \(wanted.rawValue) (prepare the corpus again with this config)")
        }
        if wanted == .word, let prepared = header.vocabSize, prepared != config.data.vocabSize {
            throw RNNDistError.input("\(path): prepared with data.vocab_size \(prepared); the config asks for \(config.data.vocabSize) (prepare the corpus again with this config, or set data.vocab_size \(prepared))")
        }
    }

    /// A token file whose source text still exists but has another size or modification time
    /// than when it was prepared is stale: an input error naming both files. A source that is
    /// gone (the text deleted after preparing, or not copied to this node) is fine.
    public func checkSource(config: String) throws {
        let source = header.source
        guard let now = ReadOnlyFile.status(of: source.path), now.size != source.size || now.modified != source.modified else {
            return
        }
        func when(_ nanoseconds: Int64) -> String {
            let formatter = ISO8601DateFormatter()
            return formatter.string(from: Date(timeIntervalSince1970: Double(nanoseconds) / 1e9))
        }
        throw RNNDistError.input("\(path): stale token file: its source \(source.path) has changed since it was prepared (then \(source.size) bytes modified \(when(source.modified)), now \(now.size) bytes modified \(when(now.modified))); prepare it again: rnn-dist prepare \(config)")
    }

    /// A reader of tokens `range`, for `lanes` streams read side by side.
    func reader(range: Range<Int>, lanes: Int) -> TokenFileReader {
        TokenFileReader(tokenFile: self, range: range, lanes: lanes)
    }
}

/// Reads the tokens of one range of a token file — a rank's shard — by position, as `Int32`
/// ids, verifying every block of the file the first time it reads from it.
///
/// Each lane (a stream of the batch) has a window of its own, refilled by one `pread` when a
/// read leaves it, so a step costs a fraction of a system call per row and the memory is the
/// windows (4 MiB over all lanes, at least one chunk each) and one block for verification,
/// whatever the shard's size. Reading cannot throw where the batch is filled, so a failure — a
/// block that fails its checksum, an id outside the vocabulary, an I/O error — is kept, the
/// lane filled with zeros (a valid id), and `checkReads` throws it before the step uses them.
final class TokenFileReader: @unchecked Sendable {  // used by one thread: the rank's step loop
    let tokenFile: TokenFile
    let range: Range<Int>
    private let width: Int
    private let windowTokens: Int
    private let firstBlock: Int
    private var verified: [Bool]
    private var windows: [Window?]
    private var scratch: UnsafeMutableRawBufferPointer?
    private(set) var failure: RNNDistError?

    final class Window {
        var start = 0, count = 0
        var bytes: UnsafeMutableRawBufferPointer
        init(byteCount: Int) { bytes = .allocate(byteCount: byteCount, alignment: 64) }
        deinit { bytes.deallocate() }
    }

    init(tokenFile: TokenFile, range: Range<Int>, lanes: Int) {
        self.tokenFile = tokenFile
        self.range = range
        width = tokenFile.header.tokenWidth
        windowTokens = min(64 << 10, max(4 << 10, (4 << 20) / max(1, lanes))) / width
        let blockBytes = TokenFile.blockBytes
        firstBlock = range.lowerBound * width / blockBytes
        let lastBlock = range.isEmpty ? firstBlock - 1 : (range.upperBound * width - 1) / blockBytes
        verified = [Bool](repeating: false, count: max(0, lastBlock - firstBlock + 1))
        windows = [Window?](repeating: nil, count: max(1, lanes))
    }

    deinit { scratch?.deallocate() }

    /// Writes the ids of tokens `tokens` (inside `range`) to `out`, through `lane`'s window.
    func read(_ tokens: Range<Int>, lane: Int, into out: UnsafeMutablePointer<Int32>) {
        precondition(tokens.lowerBound >= range.lowerBound && tokens.upperBound <= range.upperBound,
                     "tokens \(tokens) are outside the reader's range \(range)")
        if lane >= windows.count { windows += [Window?](repeating: nil, count: lane + 1 - windows.count) }
        let window = windows[lane] ?? Window(byteCount: max(windowTokens, tokens.count) * width)
        windows[lane] = window
        if failure == nil && (tokens.lowerBound < window.start || tokens.upperBound > window.start + window.count) {
            refill(window, from: tokens.lowerBound, atLeast: tokens.count)
        }
        guard failure == nil else {
            out.update(repeating: 0, count: tokens.count)
            return
        }
        let raw = UnsafeRawPointer(window.bytes.baseAddress!) + (tokens.lowerBound - window.start) * width
        switch width {
        case 1: for i in 0..<tokens.count { out[i] = Int32(raw.load(fromByteOffset: i, as: UInt8.self)) }
        case 2: for i in 0..<tokens.count { out[i] = Int32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        default: for i in 0..<tokens.count { out[i] = Int32(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        }
    }

    /// Throws the first failure of a read, if any.
    func checkReads() throws {
        if let failure { throw failure }
    }

    private func refill(_ window: Window, from start: Int, atLeast needed: Int) {
        let count = min(max(needed, windowTokens), range.upperBound - start)
        if window.bytes.count < count * width {
            window.bytes.deallocate()
            window.bytes = .allocate(byteCount: count * width, alignment: 64)
        }
        window.start = start
        window.count = 0
        do {
            try verifyBlocks(covering: start..<(start + count))
            let bytes = UnsafeMutableRawBufferPointer(rebasing: window.bytes[..<(count * width)])
            let got = try tokenFile.file.read(into: bytes, at: tokenFile.header.dataOffset + start * width)
            guard got == bytes.count else {
                throw RNNDistError.input("\(tokenFile.path): the token file ended while reading tokens \(start)..<\(start + count) (was it truncated after training started?)")
            }
            try checkIDs(bytes, firstToken: start)
            window.count = count
        } catch {
            failure = error as? RNNDistError ?? .runtime("\(tokenFile.path): \(error)")
        }
    }

    /// Checks every block of the file that holds part of `tokens` and has not been checked yet.
    private func verifyBlocks(covering tokens: Range<Int>) throws {
        let blockBytes = TokenFile.blockBytes
        let total = tokenFile.header.tokens * width
        let first = tokens.lowerBound * width / blockBytes, last = (tokens.upperBound * width - 1) / blockBytes
        for block in first...last where !verified[block - firstBlock] {
            let buffer = scratch ?? .allocate(byteCount: blockBytes, alignment: 64)
            scratch = buffer
            let length = min(blockBytes, total - block * blockBytes)
            let bytes = UnsafeMutableRawBufferPointer(rebasing: buffer[..<length])
            let got = try tokenFile.file.read(into: bytes, at: tokenFile.header.dataOffset + block * blockBytes)
            guard got == length, XXH64.hash(UnsafeRawBufferPointer(bytes)) == tokenFile.blockChecksums[block] else {
                let from = block * blockBytes / width
                throw RNNDistError.input("\(tokenFile.path): damaged token file: block \(block) (tokens \(from)..<\(from + length / width)) fails its checksum; prepare it again with `rnn-dist prepare`")
            }
            verified[block - firstBlock] = true
        }
    }

    private func checkIDs(_ bytes: UnsafeMutableRawBufferPointer, firstToken: Int) throws {
        let V = tokenFile.header.vocabulary
        var largest = 0
        switch width {
        case 1: for byte in bytes { largest = max(largest, Int(byte)) }
        case 2: for value in bytes.bindMemory(to: UInt16.self) { largest = max(largest, Int(UInt16(littleEndian: value))) }
        default: for value in bytes.bindMemory(to: UInt32.self) { largest = max(largest, Int(UInt32(littleEndian: value))) }
        }
        guard largest < V else {
            throw RNNDistError.input("\(tokenFile.path): damaged token file: id \(largest) among tokens \(firstToken)..<\(firstToken + bytes.count / width) is outside the vocabulary (V = \(V)); prepare it again with `rnn-dist prepare`")
        }
    }
}
