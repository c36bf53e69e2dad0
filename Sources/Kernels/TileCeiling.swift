import Foundation

/// The most any product can reach on `path`: GFLOP/s of its micro-kernel over one k-block of a
/// tile whose operands sit in L1 (A packed as `packA` lays it out, B as one packed panel, C
/// accumulated), called again and again, on `threads` threads at once (each on its own
/// operands). No operand waits on memory and no edge is cut, so what remains is the tile's own
/// rate: its FMAs per cycle against the ISA's, and the loads and broadcasts beside them.
///
/// Against it, a product's GFLOP/s says how much its packing, blocking and edges cost, and a
/// model's says how much room the kernels leave (`rnn-dist bench --kernels`). Best of short
/// windows, as the products are timed: other tenants of a shared machine only slow one down.
public func tileCeiling(path: KernelPath = .current, threads: Int, seconds: Double = 0.3) -> Double {
    switch path {
    #if arch(x86_64)
    case .avx512: return tileCeiling(AVX512Tile.self, threads: threads, seconds: seconds)
    case .avx2: return tileCeiling(AVX2Tile.self, threads: threads, seconds: seconds)
    #endif
    #if arch(arm64)
    case .neon: return tileCeiling(NEONTile.self, threads: threads, seconds: seconds)
    #endif
    default: return tileCeiling(GenericTile.self, threads: threads, seconds: seconds)
    }
}

/// The tile's shape as `rows × columns × kc`, for a report beside `tileCeiling`.
public func tileShape(path: KernelPath = .current) -> (rows: Int, columns: Int, kc: Int) {
    (path.tileDimensions.rows, path.tileDimensions.columns, kBlock)
}

private func tileCeiling<T: MicroTile>(_ tile: T.Type, threads: Int, seconds: Double) -> Double {
    // One tile's operands per thread: (kc·rows + kc·columns) floats, 22 KB on the AVX2 tile
    // and 40 KB on AVX-512's, within a 48 KB L1.
    let (kc, rows, columns) = (kBlock, T.rows, T.columns)
    let flopsPerCall = 2.0 * Double(rows * columns * kc)
    func calls(_ count: Int) {
        runOnePartPerThread(threads) { _ in
            let a = UnsafeMutablePointer<Float>.allocateCacheAligned(capacity: kc * rows)
            let b = UnsafeMutablePointer<Float>.allocateCacheAligned(capacity: kc * columns)
            let c = UnsafeMutablePointer<Float>.allocateCacheAligned(capacity: rows * columns)
            defer { a.deallocate(); b.deallocate(); c.deallocate() }
            // Small normal values: the sums stay far from overflow and no product is subnormal.
            a.initialize(repeating: 1e-3, count: kc * rows)
            b.initialize(repeating: 1e-3, count: kc * columns)
            c.initialize(repeating: 0, count: rows * columns)
            for _ in 0..<count {
                runMicroKernel(T.self, kc: kc, a: a, rowStride: 1, kStride: rows, validRows: rows,
                               b: b, bStrideBytes: columns * 4, c: c, ldc: columns, columns: columns,
                               overwrite: false)
            }
            precondition(c[0].isFinite, "tileCeiling: the sums overflowed")   // and keeps the loop's stores alive
        }
    }
    calls(16)   // warm: the workers awake, the code and operands in cache
    var perWindow = 64
    while true {   // about a 24th of `seconds` a window
        let start = DispatchTime.now().uptimeNanoseconds
        calls(perWindow)
        if Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 >= seconds / 24 || perWindow > 1 << 24 { break }
        perWindow *= 2
    }
    var best = 0.0
    for _ in 0..<24 {
        let start = DispatchTime.now().uptimeNanoseconds
        calls(perWindow)
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        best = max(best, flopsPerCall * Double(perWindow * threads) / elapsed / 1e9)
    }
    return best
}
