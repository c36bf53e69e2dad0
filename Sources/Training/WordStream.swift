import Foundation

/// Seed 001's word splitting (`WordSplitter.split`) over text that arrives in pieces, so that
/// a corpus of any size is split with memory for one block: lower-cased words (letters, digits,
/// inner apostrophes) and punctuation marks as tokens of their own, `<s>` … `</s>` around
/// sentences.
///
/// Text is fed in segments that end where a grapheme cluster must end: after a line feed (a
/// control character, after which Unicode always breaks) or after an ASCII space followed by an
/// ASCII byte (`TextSegments`). Each line that is all ASCII takes a byte loop; any other line is
/// split by `Character`, exactly as `WordSplitter.split` did for the whole text (lower-casing
/// maps scalar by scalar, so a line lower-cases as it would inside the text). Tokens outside
/// ASCII are emitted in Unicode normal form C, so that canonically equivalent spellings — equal
/// as Swift strings — count as one word.
struct WordStream {
    enum Token {
        case sentenceStart, sentenceEnd
        /// A word or punctuation mark, UTF-8 (valid only during the call), and its `WordTable.hash`.
        case word(UnsafeRawBufferPointer, hash: UInt64)
    }

    let sentenceMarks: Bool
    let path: String
    private var owesStart: Bool     // a `<s>` is due before the next token
    // The word being read (lower-cased UTF-8): `length` bytes at `word`, which `storage` owns.
    private var storage: WordBuffer
    private var word: UnsafeMutablePointer<UInt8>
    private var length = 0
    private var wordIsASCII = true
    private var fnv = WordTable.fnvBasis   // the word's hash so far, taken as its bytes arrive

    /// Owns the word buffer (a struct cannot free memory; a class property would be checked for
    /// exclusive access on every byte).
    final class WordBuffer {
        let base: UnsafeMutablePointer<UInt8>
        let capacity: Int
        init(capacity: Int) {
            self.capacity = capacity
            base = .allocate(capacity: capacity)
        }
        deinit { base.deallocate() }
    }

    init(sentenceMarks: Bool = true, path: String = "<text>") {
        self.sentenceMarks = sentenceMarks
        self.path = path
        owesStart = sentenceMarks
        storage = WordBuffer(capacity: 256)
        word = storage.base
    }

    @inline(__always)
    private mutating func append(_ byte: UInt8) {
        if length == storage.capacity {
            let wider = WordBuffer(capacity: 2 * storage.capacity)
            wider.base.update(from: word, count: length)
            storage = wider
            word = wider.base
        }
        word[length] = byte
        length += 1
        fnv = WordTable.fnvStep(fnv, byte)
    }

    // Byte classes of the ASCII loop: what `Character` says of each ASCII character.
    static let other: UInt8 = 0, wordByte: UInt8 = 1, space: UInt8 = 2, apostrophe: UInt8 = 3
    static let classes: [UInt8] = (0..<256).map { byte in
        switch UInt8(byte) {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return wordByte
        case 9...13, 32: return space       // Unicode White_Space within ASCII
        case UInt8(ascii: "'"): return apostrophe
        default: return other
        }
    }

    /// Splits `segment` (which starts at byte `offset` of the text, for messages).
    mutating func feed<Sink: WordSink>(_ segment: UnsafeRawBufferPointer, offset: Int, into sink: inout Sink) throws {
        if Self.isASCII(segment) { return try splitASCII(segment, into: &sink) }
        var start = 0
        while start < segment.count {
            var end = start
            var ascii = true
            while end < segment.count {
                let byte = segment[end]
                end += 1
                if byte >= 0x80 { ascii = false }
                if byte == 10 { break }
            }
            let line = UnsafeRawBufferPointer(rebasing: segment[start..<end])
            if ascii {
                try splitASCII(line, into: &sink)
            } else {
                try splitCharacters(line, offset: offset + start, into: &sink)
            }
            start = end
        }
    }

    /// Whether every byte is below 0x80, eight at a time.
    static func isASCII(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var high: UInt64 = 0
        var i = 0
        while i + 8 <= bytes.count {
            high |= bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            i += 8
        }
        while i < bytes.count {
            high |= UInt64(bytes[i])
            i += 1
        }
        return high & 0x8080_8080_8080_8080 == 0
    }

    /// The end of the text.
    mutating func finish<Sink: WordSink>(into sink: inout Sink) throws {
        try flush(into: &sink)
        if sentenceMarks && !owesStart { try sink.take(.sentenceEnd) }
        owesStart = sentenceMarks
    }

    @inline(__always)
    private mutating func splitASCII<Sink: WordSink>(_ line: UnsafeRawBufferPointer, into sink: inout Sink) throws {
        try Self.classes.withUnsafeBufferPointer { classes in
            for byte in line {
                switch classes[Int(byte)] {
                case Self.wordByte:
                    append(byte >= 65 && byte <= 90 ? byte | 0x20 : byte)
                case Self.space:
                    try flush(into: &sink)
                case Self.apostrophe where length > 0:
                    append(byte)
                default:
                    try flush(into: &sink)
                    try withUnsafeBytes(of: byte) { try mark($0, isSentenceEnd: byte == 46 || byte == 33 || byte == 63, into: &sink) }
                }
            }
        }
    }

    private mutating func splitCharacters<Sink: WordSink>(_ line: UnsafeRawBufferPointer, offset: Int, into sink: inout Sink) throws {
        guard let text = String(validating: line, as: UTF8.self) else {
            var stream = UTF8Stream(path: path)
            try stream.decode(line) { _, _ in }
            try stream.finish()
            throw stream.invalid(at: offset + stream.offset)
        }
        for character in text.lowercased() {
            if character.isLetter || character.isNumber || (character == "'" && length > 0) {
                for byte in character.utf8 { append(byte) }
                if !character.isASCII { wordIsASCII = false }
            } else {
                try flush(into: &sink)
                guard !character.isWhitespace else { continue }
                let isEnd = WordSplitter.sentenceEnders.contains(character)
                if character.isASCII {
                    try withUnsafeBytes(of: character.asciiValue!) { try mark($0, isSentenceEnd: isEnd, into: &sink) }
                } else {
                    let normal = Array(String(character).precomposedStringWithCanonicalMapping.utf8)
                    try normal.withUnsafeBytes { try mark($0, isSentenceEnd: isEnd, into: &sink) }
                }
            }
        }
    }

    /// Emits the word read so far, if any.
    @inline(__always)
    private mutating func flush<Sink: WordSink>(into sink: inout Sink) throws {
        guard length > 0 else { return }
        if owesStart {
            try sink.take(.sentenceStart)
            owesStart = false
        }
        let bytes = UnsafeRawBufferPointer(start: word, count: length)
        let hash = WordTable.finalize(fnv)
        length = 0
        fnv = WordTable.fnvBasis
        if !wordIsASCII {
            wordIsASCII = true
            let normal = Array(String(decoding: bytes, as: UTF8.self).precomposedStringWithCanonicalMapping.utf8)
            try normal.withUnsafeBytes { try sink.take(.word($0, hash: WordTable.hash($0))) }
        } else {
            try sink.take(.word(bytes, hash: hash))
        }
    }

    /// Emits a punctuation mark, closing the sentence after . ! ?
    @inline(__always)
    private mutating func mark<Sink: WordSink>(_ bytes: UnsafeRawBufferPointer, isSentenceEnd: Bool, into sink: inout Sink) throws {
        if owesStart {
            try sink.take(.sentenceStart)
            owesStart = false
        }
        try sink.take(.word(bytes, hash: WordTable.hash(bytes)))
        if sentenceMarks && isSentenceEnd {
            try sink.take(.sentenceEnd)
            owesStart = true
        }
    }
}

/// What `WordStream` hands its tokens to. A generic sink, passed `inout`, is specialized into the
/// splitting loop: no closure call or boxed capture per token.
protocol WordSink {
    mutating func take(_ token: WordStream.Token) throws
}

/// A text file read in blocks cut where `WordStream` may cut: after the last line feed of a
/// block, or, in a line longer than a block, after the last ASCII space or tab that an ASCII
/// byte follows (there grapheme clusters always break, and no word is open).
enum TextSegments {
    static func forEach(in file: ReadOnlyFile, blockSize: Int = 4 << 20,
                        _ body: (UnsafeRawBufferPointer, Int) throws -> Void) throws {
        var capacity = max(16, blockSize)
        var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 64)
        defer { buffer.deallocate() }
        var filled = 0       // bytes carried from the previous block
        var offset = 0       // the file offset of buffer[0]
        while true {
            let got = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]), at: offset + filled)
            let total = filled + got
            if offset + total >= file.size || got == 0 {
                if total > 0 { try body(UnsafeRawBufferPointer(rebasing: buffer[..<total]), offset) }
                return
            }
            guard let cut = cutPoint(UnsafeRawBufferPointer(rebasing: buffer[..<total])) else {
                // One line with no place to cut: read more of it.
                let wider = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity * 2, alignment: 64)
                wider.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[..<total]))
                buffer.deallocate()
                buffer = wider
                capacity *= 2
                filled = total
                continue
            }
            try body(UnsafeRawBufferPointer(rebasing: buffer[..<cut]), offset)
            let rest = total - cut
            if rest > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + cut, byteCount: rest) }
            filled = rest
            offset += cut
        }
    }

    /// Where the bytes may be cut: just after the last line feed, else just after the last
    /// space or tab followed by an ASCII byte; nil when neither occurs.
    static func cutPoint(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var i = bytes.count
        while i > 0 {
            if bytes[i - 1] == 10 { return i }
            i -= 1
        }
        i = bytes.count - 1
        while i > 0 {
            if (bytes[i - 1] == 32 || bytes[i - 1] == 9) && bytes[i] < 0x80 { return i }
            i -= 1
        }
        return nil
    }
}
