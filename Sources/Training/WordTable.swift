import Foundation

/// Words as UTF-8 bytes → an integer (a count while counting, a token id while tokenizing), in
/// one open-addressing hash table whose keys live in one byte arena: no `String` per word
/// read, so splitting and counting run near the speed of reading the text. A slot holds the
/// high half of its key's hash beside the entry's index, so a probe that misses reads no entry.
struct WordTable {
    struct Entry {
        var prefix: UInt64      // the key's first 8 bytes, zero-padded: short keys compare here
        var start: Int          // the key's bytes: arena[start ..< start + length]
        var length: Int
        var value: Int
    }
    private var arena: [UInt8] = []
    private(set) var entries: [Entry] = []
    private var slots: [UInt64]            // 0 empty, else (hash >> 32) << 32 | (entry + 1)
    var count: Int { entries.count }
    var values: [Int] { entries.map(\.value) }

    init(capacity: Int = 1024) {
        var size = 16
        while size < 2 * capacity { size *= 2 }
        slots = [UInt64](repeating: 0, count: size)
    }

    /// FNV-1a over the bytes, then a finalizer that spreads them to the low bits the table
    /// indexes with (FNV-1a's low bits mix poorly for short keys).
    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h = fnvBasis
        for byte in bytes { h = fnvStep(h, byte) }
        return finalize(h)
    }

    static let fnvBasis: UInt64 = 0xCBF2_9CE4_8422_2325

    @inline(__always)
    static func fnvStep(_ h: UInt64, _ byte: UInt8) -> UInt64 { (h ^ UInt64(byte)) &* 0x100_0000_01B3 }

    @inline(__always)
    static func finalize(_ fnv: UInt64) -> UInt64 {
        var h = fnv
        h ^= h >> 33
        h &*= 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 33
        return h
    }

    @inline(__always)
    static func prefix(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var prefix: UInt64 = 0
        withUnsafeMutableBytes(of: &prefix) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes.prefix(8))) }
        return prefix
    }

    /// The entry holding `bytes`, or nil.
    @inline(__always)
    func find(_ bytes: UnsafeRawBufferPointer, hash: UInt64) -> Int? {
        let mask = slots.count - 1
        let tag = hash >> 32
        let prefix = Self.prefix(bytes)
        var i = Int(truncatingIfNeeded: hash) & mask
        return slots.withUnsafeBufferPointer { slots in
            entries.withUnsafeBufferPointer { entries in
                while true {
                    let slot = slots[i]
                    if slot == 0 { return nil }
                    if slot >> 32 == tag {
                        let entry = Int(truncatingIfNeeded: slot & 0xFFFF_FFFF) - 1
                        let e = entries[entry]
                        if e.prefix == prefix && e.length == bytes.count && (bytes.count <= 8 || rest(of: e, equals: bytes)) {
                            return entry
                        }
                    }
                    i = (i + 1) & mask
                }
            }
        }
    }

    private func rest(of entry: Entry, equals bytes: UnsafeRawBufferPointer) -> Bool {
        arena.withUnsafeBytes { arena in
            for i in 8..<bytes.count where arena[entry.start + i] != bytes[i] { return false }
            return true
        }
    }

    /// Adds an entry for `bytes`, which must not be in the table; returns its index.
    @discardableResult
    mutating func insert(_ bytes: UnsafeRawBufferPointer, hash: UInt64, value: Int) -> Int {
        if 2 * (count + 1) > slots.count { rehash(slots: slots.count * 2) }
        let entry = count
        entries.append(Entry(prefix: Self.prefix(bytes), start: arena.count, length: bytes.count, value: value))
        arena.append(contentsOf: bytes)
        place(entry, hash: hash)
        return entry
    }

    /// Adds `amount` to the value of `bytes` (whose `hash` is given), inserting it at 0 first when new.
    @inline(__always)
    mutating func add(_ amount: Int, to bytes: UnsafeRawBufferPointer, hash h: UInt64) {
        if let entry = find(bytes, hash: h) {
            entries[entry].value += amount
        } else {
            insert(bytes, hash: h, value: amount)
        }
    }

    /// The value of `bytes` (whose `hash` is given), or nil.
    @inline(__always)
    func value(of bytes: UnsafeRawBufferPointer, hash: UInt64) -> Int? {
        find(bytes, hash: hash).map { entries[$0].value }
    }

    func string(_ entry: Int) -> String {
        let e = entries[entry]
        return String(decoding: arena[e.start..<(e.start + e.length)], as: UTF8.self)
    }

    /// The entries whose value passes `keep`, in their order, in a table of their own.
    func filter(_ keep: (Int) -> Bool) -> WordTable {
        var kept = WordTable(capacity: count)
        arena.withUnsafeBytes { arena in
            for e in entries where keep(e.value) {
                let bytes = UnsafeRawBufferPointer(rebasing: arena[e.start..<(e.start + e.length)])
                kept.insert(bytes, hash: Self.hash(bytes), value: e.value)
            }
        }
        return kept
    }

    private mutating func rehash(slots size: Int) {
        slots = [UInt64](repeating: 0, count: size)
        let hashes = arena.withUnsafeBytes { arena in
            entries.map { Self.hash(UnsafeRawBufferPointer(rebasing: arena[$0.start..<($0.start + $0.length)])) }
        }
        for (entry, hash) in hashes.enumerated() { place(entry, hash: hash) }
    }

    private mutating func place(_ entry: Int, hash: UInt64) {
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: hash) & mask
        while slots[i] != 0 { i = (i + 1) & mask }
        slots[i] = (hash >> 32) << 32 | UInt64(entry + 1)
    }
}

/// Word counts in bounded memory, for a word vocabulary of a corpus of any size.
///
/// Counts are exact until the table holds `limit` distinct words. Then the words counted at
/// most the median count are dropped and counting goes on (lossy counting, Manku and Motwani
/// 2002): a dropped word that comes back starts again from zero, so any count may be low by at
/// most `undercount`, the sum of the medians dropped. The frequent words a vocabulary keeps are
/// never the ones dropped unless `vocab_size` is near `limit`, and text with fewer distinct
/// words than `limit` — every corpus of a few GB of prose — is counted exactly.
struct WordCounter: WordSink {
    private(set) var table = WordTable(capacity: 4096)
    let limit: Int
    /// How much any count may be below the truth (0: exact).
    private(set) var undercount = 0
    /// Every token, `<s>` and `</s>` included.
    private(set) var tokens = 0

    init(vocabularySize: Int, limit: Int? = nil) {
        self.limit = limit ?? max(1 << 21, 4 * vocabularySize)
    }

    @inline(__always)
    mutating func take(_ token: WordStream.Token) {
        tokens += 1
        guard case .word(let bytes, let hash) = token else { return }
        table.add(1, to: bytes, hash: hash)
        if table.count >= limit { prune() }
    }

    private mutating func prune() {
        let median = table.values.sorted()[table.count / 2]
        table = table.filter { $0 > median }
        undercount += median
    }

    /// The `size` − 3 most frequent words after `<unk>`, `<s>`, `</s>`; ties alphabetical.
    func vocabulary(size: Int) -> Vocabulary {
        let kept = max(0, size - 3)
        var entries = Array(0..<table.count)
        if entries.count > kept {
            // Only the words counted at least as often as the kept-th need strings and a sort.
            let floor = kept == 0 ? Int.max : table.values.sorted(by: >)[kept - 1]
            entries = entries.filter { table.entries[$0].value >= floor }
        }
        let ranked = entries.map { (count: table.entries[$0].value, word: table.string($0)) }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.word < $1.word }
        return Vocabulary(words: [WordSplitter.unknown, WordSplitter.sentenceStart, WordSplitter.sentenceEnd]
                          + ranked.prefix(kept).map(\.word))
    }

    /// "exact", or how far counts may be off.
    var accuracy: String {
        undercount == 0 ? "exact" : "approximate: more than \(limit) distinct words, so counts may be up to \(undercount) low"
    }
}
