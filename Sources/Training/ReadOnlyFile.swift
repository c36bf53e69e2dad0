import Foundation

/// A file opened for reading by position (`pread`): corpora and token files, which are read in
/// pieces so that no rank holds more of them than it uses. Every failure is an input error
/// naming the file.
final class ReadOnlyFile: @unchecked Sendable {  // the descriptor is only read; pread has no shared offset
    let path: String
    let descriptor: Int32
    let size: Int

    /// Opens `path`; a missing file, a directory or an unreadable file is an input error.
    init(_ path: String) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw RNNDistError.input("\(path): corpus not found. Get the standard corpora with `bash launch/fetch-data.sh`, or point data.path at any UTF-8 text file (--set data.path=FILE)")
        }
        guard !isDirectory.boolValue else { throw RNNDistError.input("\(path): is a directory, not a text file") }
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw RNNDistError.input("\(path): corpus is not readable (\(String(cString: strerror(errno))))") }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            close(descriptor)
            throw RNNDistError.input("\(path): cannot stat the corpus (\(String(cString: strerror(errno))))")
        }
        size = Int(status.st_size)
    }

    deinit { close(descriptor) }

    /// Fills `buffer` from byte `offset`; returns how many bytes there were (fewer only at the
    /// end of the file).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw RNNDistError.input("\(path): read failed at byte \(offset + done) (\(String(cString: strerror(errno))))")
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Calls `body` with consecutive blocks of bytes `range` (the whole file by default) and the
    /// offset of each, `blockSize` bytes at a time.
    func forEachBlock(in range: Range<Int>? = nil, blockSize: Int = 4 << 20,
                      _ body: (UnsafeRawBufferPointer, Int) throws -> Void) throws {
        let range = range ?? 0..<size
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, min(blockSize, range.count)), alignment: 64)
        defer { buffer.deallocate() }
        var offset = range.lowerBound
        while offset < range.upperBound {
            let want = min(buffer.count, range.upperBound - offset)
            let got = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]), at: offset)
            guard got == want else {
                throw RNNDistError.input("\(path): the file ended at byte \(offset + got), expected \(range.upperBound) (did it change while being read?)")
            }
            try body(UnsafeRawBufferPointer(rebasing: buffer[..<got]), offset)
            offset += got
        }
    }

    /// Size and modification time (nanoseconds since 1970) of the file at `path`, or nil when
    /// there is none.
    static func status(of path: String) -> (size: Int, modified: Int64)? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return (Int(status.st_size), Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec))
    }
}

/// UTF-8 decoding of a file that arrives in blocks, with the validation of `String(validating:)`
/// (no overlong forms, surrogates or scalars past U+10FFFF) and the offset of the first bad
/// byte. A sequence cut by the end of a block is completed from the next.
struct UTF8Stream {
    let path: String
    /// The byte offset of the next undecoded byte.
    private(set) var offset = 0
    private var carry: [UInt8] = []

    init(path: String) { self.path = path }

    /// Decodes `block`, which follows the bytes already seen, calling `visit` with every scalar
    /// and the byte offset where it starts.
    @inline(__always)
    mutating func decode(_ block: UnsafeRawBufferPointer, _ visit: (UInt32, Int) throws -> Void) throws {
        var p = 0
        let n = block.count
        if !carry.isEmpty {
            // Complete the sequence the previous block cut.
            while carry.count < 4 && p < n && carry.count < Self.length(lead: carry[0]) {
                carry.append(block[p])
                p += 1
            }
            let decoded = carry.withUnsafeBytes { Self.scalar(at: 0, in: $0) }
            switch decoded {
            case .scalar(let scalar, let length):
                try visit(scalar, offset)
                offset += length
                p -= carry.count - length
                carry.removeAll()
            case .incomplete:
                return  // the block was shorter than the sequence; wait for more
            case .invalid:
                throw invalid(at: offset)
            }
        }
        while p < n {
            let byte = block[p]
            if byte < 0x80 {
                try visit(UInt32(byte), offset)
                offset += 1
                p += 1
                continue
            }
            switch Self.scalar(at: p, in: block) {
            case .scalar(let scalar, let length):
                try visit(scalar, offset)
                offset += length
                p += length
            case .incomplete:
                carry = Array(block[p..<n])
                return
            case .invalid:
                throw invalid(at: offset)
            }
        }
    }

    /// The end of the file: a sequence still open is invalid.
    func finish() throws {
        if !carry.isEmpty { throw invalid(at: offset) }
    }

    func invalid(at offset: Int) -> RNNDistError {
        .input("\(path): not valid UTF-8 (first bad byte at offset \(offset)); use data.tokenizer \"byte\" for arbitrary files")
    }

    enum Decoded { case scalar(UInt32, Int), incomplete, invalid }

    /// The sequence length a lead byte announces (1 for bytes that cannot lead: they fail later).
    static func length(lead: UInt8) -> Int {
        switch lead {
        case 0xC2...0xDF: return 2
        case 0xE0...0xEF: return 3
        case 0xF0...0xF4: return 4
        default: return 1
        }
    }

    /// The scalar starting at `p` (Unicode 15, table 3-7: the well-formed byte sequences).
    @inline(__always)
    static func scalar(at p: Int, in bytes: UnsafeRawBufferPointer) -> Decoded {
        let lead = bytes[p]
        let length = length(lead: lead)
        guard length > 1 else { return lead < 0x80 ? .scalar(UInt32(lead), 1) : .invalid }
        // The second byte's range depends on the lead (no overlongs, no surrogates, <= U+10FFFF).
        let (low, high): (UInt8, UInt8) = switch lead {
        case 0xE0: (0xA0, 0xBF)
        case 0xED: (0x80, 0x9F)
        case 0xF0: (0x90, 0xBF)
        case 0xF4: (0x80, 0x8F)
        default: (0x80, 0xBF)
        }
        var scalar = UInt32(lead) & (0x7F >> UInt32(length))
        for i in 1..<length {
            guard p + i < bytes.count else { return .incomplete }
            let byte = bytes[p + i]
            let valid = i == 1 ? (byte >= low && byte <= high) : (byte & 0xC0 == 0x80)
            guard valid else { return .invalid }
            scalar = scalar << 6 | UInt32(byte & 0x3F)
        }
        return .scalar(scalar, length)
    }
}
