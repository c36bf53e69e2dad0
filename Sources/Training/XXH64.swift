/// XXH64, the 64-bit xxHash of Yann Collet (the algorithm as its specification,
/// `doc/xxhash_spec.md` of the xxHash repository, gives it): the checksum of token files and of
/// the text a run trained on. Unlike FNV-1a, which takes one byte per multiply, it consumes 32
/// bytes per round in four independent lanes, so checking a block costs little next to reading
/// it. Streaming: `update` any number of times, then `finish`.
public struct XXH64 {
    static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
    static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    let seed: UInt64
    var lanes: (UInt64, UInt64, UInt64, UInt64)
    var total = 0
    var pending: [UInt8] = []   // < 32 bytes not yet consumed by a stripe

    public init(seed: UInt64 = 0) {
        self.seed = seed
        lanes = (seed &+ Self.p1 &+ Self.p2, seed &+ Self.p2, seed, seed &- Self.p1)
    }

    /// The checksum of `bytes` in one call.
    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        var hasher = XXH64(seed: seed)
        hasher.update(bytes)
        return hasher.finish()
    }

    public static func hash(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
        bytes.withUnsafeBytes { hash($0, seed: seed) }
    }

    @inline(__always)
    static func round(_ accumulator: UInt64, _ input: UInt64) -> UInt64 {
        (accumulator &+ input &* p2).rotatedLeft(31) &* p1
    }

    @inline(__always)
    static func merge(_ accumulator: UInt64, _ lane: UInt64) -> UInt64 {
        (accumulator ^ round(0, lane)) &* p1 &+ p4
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        total += bytes.count
        var p = 0
        if !pending.isEmpty {
            let take = min(32 - pending.count, bytes.count)
            pending.append(contentsOf: UnsafeRawBufferPointer(start: base, count: take))
            p = take
            guard pending.count == 32 else { return }
            pending.withUnsafeBytes { stripe($0.baseAddress!) }
            pending.removeAll(keepingCapacity: true)
        }
        while p + 32 <= bytes.count {
            stripe(base + p)
            p += 32
        }
        if p < bytes.count { pending.append(contentsOf: UnsafeRawBufferPointer(start: base + p, count: bytes.count - p)) }
    }

    @inline(__always)
    mutating func stripe(_ p: UnsafeRawPointer) {
        lanes.0 = Self.round(lanes.0, UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)))
        lanes.1 = Self.round(lanes.1, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        lanes.2 = Self.round(lanes.2, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
        lanes.3 = Self.round(lanes.3, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
    }

    public func finish() -> UInt64 {
        var h: UInt64
        if total >= 32 {
            h = lanes.0.rotatedLeft(1) &+ lanes.1.rotatedLeft(7) &+ lanes.2.rotatedLeft(12) &+ lanes.3.rotatedLeft(18)
            h = Self.merge(h, lanes.0)
            h = Self.merge(h, lanes.1)
            h = Self.merge(h, lanes.2)
            h = Self.merge(h, lanes.3)
        } else {
            h = seed &+ Self.p5
        }
        h &+= UInt64(total)
        pending.withUnsafeBytes { rest in
            var p = 0
            while p + 8 <= rest.count {
                h ^= Self.round(0, UInt64(littleEndian: rest.loadUnaligned(fromByteOffset: p, as: UInt64.self)))
                h = h.rotatedLeft(27) &* Self.p1 &+ Self.p4
                p += 8
            }
            if p + 4 <= rest.count {
                h ^= UInt64(UInt32(littleEndian: rest.loadUnaligned(fromByteOffset: p, as: UInt32.self))) &* Self.p1
                h = h.rotatedLeft(23) &* Self.p2 &+ Self.p3
                p += 4
            }
            while p < rest.count {
                h ^= UInt64(rest[p]) &* Self.p5
                h = h.rotatedLeft(11) &* Self.p1
                p += 1
            }
        }
        h ^= h >> 33
        h &*= Self.p2
        h ^= h >> 29
        h &*= Self.p3
        h ^= h >> 32
        return h
    }
}

extension UInt64 {
    @inline(__always)
    func rotatedLeft(_ n: UInt64) -> UInt64 { (self << n) | (self >> (64 - n)) }

    /// "xxh64:0123456789abcdef": how checksums appear in headers and messages.
    var checksumText: String {
        let hex = String(self, radix: 16)
        return "xxh64:" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}
