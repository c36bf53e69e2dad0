/// C[0..<validRows, 0..<columns] += A[0..<validRows, 0..<kc] · B (kc × `T.columns`, rows
/// `bStrideBytes` apart) — or = with `overwrite` (the first k-block of a product that does not
/// accumulate, which saves zeroing C first).
///
/// One generic body for every tile. Its rows (≤ `T.rows`) and vectors (≤ `T.vectors`) come
/// from the type `TileCut`, so each specialisation has them as constants:
/// the loops over them unroll and the accumulator arrays become `rows · vectors` registers
/// (checked in the assembly: no stack traffic in the k loop). A is read in place through (row
/// stride, k stride) and broadcast element by element; rows from `validRows` on repeat row 0
/// and are not stored; `columns` may end inside the last vector (a right-edge panel).
@inline(__always)
func microKernel<T: MicroTile, let rowLimit: Int, let vectorLimit: Int>(
    _: T.Type, _: TileCut<rowLimit, vectorLimit>.Type,
    kc: Int, a: UnsafePointer<Float>, rowStride: Int, kStride: Int, validRows: Int,
    b: UnsafePointer<Float>, bStrideBytes: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, columns: Int, overwrite: Bool
) {
    typealias V = T.Vector
    let rows = Swift.min(T.rows, rowLimit)
    let vectors = Swift.min(T.vectors, vectorLimit)
    var rowOffset = InlineArray<8, Int>(repeating: 0)
    for r in 0..<rows { rowOffset[r] = r < validRows ? r * rowStride : 0 }
    // The C tile that the sum is added to is fetched while the k loop runs, not after it: its
    // rows are a whole row of C apart (2 KB for H 512) and not in L1 by then. Eight pairs of
    // `bench --kernels`, with and without (2026-12-02, a Xeon with AVX-512): dWh on 1 thread
    // 1.089× (AVX2 tile, 8 wins of 8) and 1.092× (AVX-512 tile, 7 of 8), on 2 threads 1.088×
    // and 1.046×; the logits on 2 AVX-512 threads 0.966×. Six pairs of builds with and without
    // (AVX2): dWh 1.068× on 1 thread (5 wins of 6), 1.018× on 2; the other products 0.91–1.20×,
    // within what the machine swung that hour. A tile further ahead (`multiply` prefetching the
    // next tile's C before each call as well), in-process pairs of dWh, 80 windows a run (Zen 4,
    // AVX2 tile, 2026-12-07): 0.985 and 0.990 on 1 thread, 0.987 and 0.981 on 2; not kept.
    if !overwrite {
        for r in 0..<rows where r < validRows {
            prefetch(UnsafePointer(c + r * ldc), count: Swift.min(columns, vectors * V.lanes))
        }
    }
    var accumulator = InlineArray<24, V>(repeating: .zero)   // (rows, vectors)
    var bRow = UnsafeRawPointer(b)
    var offset = 0
    for _ in 0..<kc {
        var bv = InlineArray<3, V>(repeating: .zero)
        for v in 0..<vectors { bv[v] = V.load(bRow, byteOffset: v * V.lanes * 4) }
        for r in 0..<rows {
            let x = a[rowOffset[r] &+ offset]
            for v in 0..<vectors { accumulator[r * vectors + v].accumulate(x, times: bv[v]) }
        }
        offset &+= kStride
        bRow += bStrideBytes
    }
    // A whole tile stores from constant indices, in loops small enough to unroll, so the
    // accumulators never touch memory. Any store loop that stayed rolled (one with the edge
    // cases inside did) kept them on the stack: zeroed by a memset before the k loop and
    // spilled after it, on every call — 5–10 % of a 256-long k block, a third of a 65-long one.
    let raw = UnsafeMutableRawPointer(c)
    if validRows == rows && columns >= vectors * V.lanes {
        for r in 0..<rows {
            for v in 0..<vectors {
                let byteOffset = (r * ldc + v * V.lanes) * 4
                let sum = accumulator[r * vectors + v]
                (overwrite ? sum : V.load(raw, byteOffset: byteOffset) + sum).store(raw, byteOffset: byteOffset)
            }
        }
    } else {
        // Copied element by element, so that the array's unused tail is zeroed here, on the
        // edge path, not before every k loop.
        var edge = InlineArray<24, V>(repeating: .zero)
        for i in 0..<(rows * vectors) { edge[i] = accumulator[i] }
        storeEdge(edge, vectors: vectors, validRows: validRows, to: raw, ldc: ldc, columns: columns,
                  overwrite: overwrite)
    }
}

/// The store of a tile cut by the matrix's last rows or columns: row-major (rows, `vectors`)
/// accumulators into C[0..<validRows, 0..<columns], out of line.
@inline(never)
func storeEdge<V: FloatVector>(_ accumulator: InlineArray<24, V>, vectors: Int, validRows: Int,
                               to c: UnsafeMutableRawPointer, ldc: Int, columns: Int, overwrite: Bool) {
    for r in 0..<validRows {
        for v in 0..<vectors {
            let byteOffset = (r * ldc + v * V.lanes) * 4
            let sum = accumulator[r * vectors + v]
            let remaining = columns - v * V.lanes
            if remaining >= V.lanes {
                (overwrite ? sum : V.load(c, byteOffset: byteOffset) + sum).store(c, byteOffset: byteOffset)
            } else if remaining > 0 {
                let old = overwrite ? V.zero : V.load(c + byteOffset, count: remaining, filler: 0)
                (old + sum).store(c + byteOffset, count: remaining)
            }
        }
    }
}

/// A part of the tile `T` that one instantiation of `microKernel` computes: its first
/// `rowLimit` rows and `vectorLimit` vectors (a limit at or past the tile's own count: all of
/// them). A type, so that each part is a specialisation of its own in which the rows and
/// vectors are constants.
enum TileCut<let rowLimit: Int, let vectorLimit: Int> {}

/// The micro-kernel's instantiations for one tile: each row count up to the tile's, times
/// 1…`T.vectors` vectors for right-edge panels narrower than the tile (a 65-wide product ends
/// in one column; under an A read in place, `DotEdge` takes a panel narrower than one vector).
///
/// A block of the last rows runs as many rows as it has. Cut at half the tile instead, a
/// replica's 32 rows of model B (five 6-row tiles and 2 rows on the AVX2 tile) computed 33
/// rows' FMAs, and 256 rows of dWh on one thread 258. In one process, steps alternating ABBA
/// between the two (100 pairs a run; Zen 5, 2026-12-02; median ratio of step times, these cuts
/// over half-tile ones), AVX2 tile, 2 threads: model B 1.002–1.011 in 7 runs (51–78 wins),
/// A 1.013 and 1.014, C 1.008 twice; AVX-512 tile, whose 8 rows divide those blocks: 0.995–1.001.
///
/// Each instantiation is told its rows and vectors by a type (`TileCut`), not by arguments:
/// given as arguments to inlined calls, they stopped being constants when the compiler kept
/// all but the full tile's call out of line, merged into one call taking them as variables,
/// with the accumulators in memory. On the AVX-512 tile that took in the 4-row tail, and a
/// 65-row product's one tail row cost as much as 6 whole tiles: dU (65 × 512 × 3200) ran at
/// 123 GFLOP/s against 213 for 64 rows (1 core of a Zen 5, 2026-12-02).
@inline(__always)
func runMicroKernel<T: MicroTile>(
    _ tile: T.Type, kc: Int, a: UnsafePointer<Float>, rowStride: Int, kStride: Int, validRows: Int,
    b: UnsafePointer<Float>, bStrideBytes: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, columns: Int, overwrite: Bool
) {
    let vectors = (columns + T.Vector.lanes - 1) / T.Vector.lanes
    @inline(__always) func run<let rowLimit: Int>(rows _: TileCut<rowLimit, 0>.Type) {
        @inline(__always) func run<let vectorLimit: Int>(_ cut: TileCut<rowLimit, vectorLimit>.Type) {
            microKernel(tile, cut, kc: kc, a: a, rowStride: rowStride, kStride: kStride, validRows: validRows, b: b,
                        bStrideBytes: bStrideBytes, c: c, ldc: ldc, columns: columns, overwrite: overwrite)
        }
        if vectors >= T.vectors { run(TileCut<rowLimit, 3>.self) }
        else if vectors == 1 { run(TileCut<rowLimit, 1>.self) }
        else { run(TileCut<rowLimit, 2>.self) }
    }
    // A count at or past the tile's rows (6, 7 and 8 on the AVX2 tile) is the whole tile:
    // `microKernel` takes the smaller of the two.
    switch validRows {
    case 1: run(rows: TileCut<1, 0>.self)
    case 2: run(rows: TileCut<2, 0>.self)
    case 3: run(rows: TileCut<3, 0>.self)
    case 4: run(rows: TileCut<4, 0>.self)
    case 5: run(rows: TileCut<5, 0>.self)
    case 6: run(rows: TileCut<6, 0>.self)
    case 7: run(rows: TileCut<7, 0>.self)
    default: run(rows: TileCut<8, 0>.self)
    }
}
