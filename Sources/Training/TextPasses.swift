/// The reads of a text corpus that tokenizing it takes, shared by `prepare` and by training
/// from the text itself. Ids depend on the whole vocabulary (characters are numbered by value,
/// words by frequency), so a text is read twice: `scan` finds the vocabulary, the token count
/// and the text's checksum; `tokenize` then hands out the ids in order, in batches. Memory is a
/// block of text and the vocabulary — for words a table of bounded size (`WordCounter`) —
/// whatever the corpus's size.
enum TextPasses {
    struct Scan {
        var vocabulary: Vocabulary
        var tokens: Int
        /// XXH64 of the text's bytes.
        var checksum: UInt64
        /// Words: whether the counts were exact (`WordCounter.accuracy`).
        var wordCounts: String?
    }

    /// The vocabulary, token count and checksum of `file`; `progress` hears how many bytes are read.
    static func scan(_ file: ReadOnlyFile, tokenizer: Tokenizer, vocabularySize: Int,
                     progress: (Int) -> Void = { _ in }) throws -> Scan {
        let empty = RNNDistError.input("\(file.path): corpus is empty")
        var hasher = XXH64()
        switch tokenizer {
        case .byte:
            guard file.size > 0 else { throw empty }
            try file.forEachBlock { block, offset in
                hasher.update(block)
                progress(offset + block.count)
            }
            return Scan(vocabulary: .bytes, tokens: file.size, checksum: hasher.finish())
        case .char:
            var seen = [Bool](repeating: false, count: 0x110000)
            var count = 0
            var stream = UTF8Stream(path: file.path)
            try seen.withUnsafeMutableBufferPointer { seen in
                try file.forEachBlock { block, offset in
                    hasher.update(block)
                    try stream.decode(block) { scalar, _ in
                        seen[Int(scalar)] = true
                        count += 1
                    }
                    progress(offset + block.count)
                }
            }
            try stream.finish()
            guard count > 0 else { throw empty }
            let symbols = seen.indices.filter { seen[$0] }.map { UInt32($0) }
            return Scan(vocabulary: Vocabulary(tokenizer: .char, symbols: symbols), tokens: count, checksum: hasher.finish())
        case .word:
            var counter = WordCounter(vocabularySize: vocabularySize)
            var words = WordStream(path: file.path)
            try TextSegments.forEach(in: file) { segment, offset in
                hasher.update(segment)
                try words.feed(segment, offset: offset, into: &counter)
                progress(offset + segment.count)
            }
            try words.finish(into: &counter)
            guard counter.tokens > 0 else { throw RNNDistError.input("\(file.path): corpus is empty (no words in it)") }
            return Scan(vocabulary: counter.vocabulary(size: vocabularySize), tokens: counter.tokens,
                        checksum: hasher.finish(), wordCounts: counter.accuracy)
        }
    }

    /// The ids of `file`'s tokens in `vocabulary`, in order, handed to `body` a batch at a time.
    /// A character outside a char vocabulary is an input error (the file changed since `scan`).
    static func tokenize(_ file: ReadOnlyFile, vocabulary: Vocabulary, progress: (Int) -> Void = { _ in },
                         _ body: (UnsafeBufferPointer<UInt32>) throws -> Void) throws {
        let buffer = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: 1 << 16)
        defer { buffer.deallocate() }
        try withoutActuallyEscaping(body) { body in
            var batch = IDBatch(buffer: buffer, body: body)
            switch vocabulary.tokenizer {
            case .byte:
                try file.forEachBlock { block, offset in
                    for byte in block { try batch.append(UInt32(byte)) }
                    progress(offset + block.count)
                }
            case .char:
                var ids = [Int32](repeating: -1, count: 0x110000)
                for (id, symbol) in vocabulary.symbols.enumerated() { ids[Int(symbol)] = Int32(id) }
                var stream = UTF8Stream(path: file.path)
                try ids.withUnsafeBufferPointer { ids in
                    try file.forEachBlock { block, offset in
                        try stream.decode(block) { scalar, at in
                            let id = ids[Int(scalar)]
                            guard id >= 0 else {
                                throw RNNDistError.input("\(file.path): U+\(String(scalar, radix: 16, uppercase: true)) at byte \(at) was not there when the file was scanned (did it change?)")
                            }
                            try batch.append(UInt32(id))
                        }
                        progress(offset + block.count)
                    }
                }
                try stream.finish()
            case .word:
                var sink = WordIDs(vocabulary: vocabulary, batch: batch)
                var words = WordStream(path: file.path)
                try TextSegments.forEach(in: file) { segment, offset in
                    try words.feed(segment, offset: offset, into: &sink)
                    progress(offset + segment.count)
                }
                try words.finish(into: &sink)
                batch = sink.batch
            }
            try batch.flush()
        }
    }

    /// Ids collected into a buffer and handed on when it is full.
    struct IDBatch {
        let buffer: UnsafeMutableBufferPointer<UInt32>
        let body: (UnsafeBufferPointer<UInt32>) throws -> Void
        var count = 0

        @inline(__always)
        mutating func append(_ id: UInt32) throws {
            buffer[count] = id
            count += 1
            if count == buffer.count { try flush() }
        }

        mutating func flush() throws {
            if count > 0 { try body(UnsafeBufferPointer(rebasing: buffer[..<count])) }
            count = 0
        }
    }

    /// Words to ids: `<unk>` for words outside the vocabulary.
    struct WordIDs: WordSink {
        var table: WordTable
        var batch: IDBatch
        let (start, end): (UInt32, UInt32)

        init(vocabulary: Vocabulary, batch: IDBatch) {
            var table = WordTable(capacity: vocabulary.count)
            for (id, word) in vocabulary.words.enumerated() {
                _ = Array(word.utf8).withUnsafeBytes { table.insert($0, hash: WordTable.hash($0), value: id) }
            }
            self.table = table
            (start, end) = (UInt32(vocabulary.startToken), 2)
            self.batch = batch
        }

        @inline(__always)
        mutating func take(_ token: WordStream.Token) throws {
            switch token {
            case .sentenceStart: try batch.append(start)
            case .sentenceEnd: try batch.append(end)
            case .word(let bytes, let hash): try batch.append(UInt32(table.value(of: bytes, hash: hash) ?? 0))
            }
        }
    }
}
