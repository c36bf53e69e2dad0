/// Storage for the kernels' operands, starting on a 64-byte cache line.
///
/// glibc returns large blocks (from 128 KB, by mmap) 16 bytes past a page boundary, so a buffer
/// allocated the ordinary way starts 16 bytes into a cache line. Every 64-byte row of a packed
/// panel then straddles two lines, and one of the micro-kernel's two 32-byte loads of B per k
/// step on the AVX2 tile (or its one 64-byte load on AVX-512) is a split load, which costs a
/// second pass through a load port.
extension UnsafeMutablePointer {
    public static func allocateCacheAligned(capacity: Int) -> UnsafeMutablePointer<Pointee> {
        let count = Swift.max(capacity, 1)
        return UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Pointee>.stride, alignment: 64)
            .bindMemory(to: Pointee.self, capacity: count)
    }
}
