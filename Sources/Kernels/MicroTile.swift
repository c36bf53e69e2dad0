/// The register tile of the product's micro-kernel: `rows` rows of C by `vectors` vectors of
/// `Vector.lanes` columns, all held in registers while k runs, so that each k step loads
/// `vectors` vectors of B and `rows` broadcasts of A for rows · vectors FMAs.
///
/// Registers per tile = rows · vectors accumulators + vectors for B + 1 broadcast of A. The
/// tile must fit the ISA's register file, or the accumulators spill to the stack on every k
/// step (the 8×32 tile of `SIMD16` wants 32 + 3 ymm on AVX2, which has 16: 27–31 GFLOP/s
/// against 74–96 for 6×16 on a Zen 3, PERF-NOTES). Within that, more rows and columns mean
/// fewer loads per FMA. BLIS and OpenBLAS choose the same way (their Haswell sgemm is 6×16 or
/// 16×6; on AArch64 8×12), with lane-indexed FMAs and prefetches that plain Swift lacks.
protocol MicroTile: SendableMetatype {
    associatedtype Vector: FloatVector
    static var rows: Int { get }
    static var vectors: Int { get }
}

extension MicroTile {
    /// The panel width: columns of B each micro-kernel call covers.
    static var columns: Int { vectors * Vector.lanes }

    /// The fewest rows whose accumulators (rows · `vectors`) keep the FMA units busy: each
    /// accumulator takes one FMA per k, which waits for its previous one, so the units need
    /// latency × units independent ones — 4 cycles × 2 FMA units on Haswell through Zen 5 = 8.
    /// Fewer run at a fraction of the rate: a 2-row tail of the AVX2 tile (4 accumulators) at
    /// half.
    static var busyRows: Int { (8 + vectors - 1) / vectors }

    /// Rows of the next tile of a block with `remaining` rows left: a whole tile, except that a
    /// tail shorter than `busyRows` shares the last two tiles' rows with the tile before it (6 + 2
    /// rows of the AVX2 tile as 4 + 4). Each element of C still sums its k in the same order.
    /// A packed A is laid out in the same tiles (`PanelProduct.packA`). Steps alternating
    /// ABBA in one process, 100 pairs a run (Zen 5, 2026-12-02), AVX2 tile, 2 threads, median
    /// ratio with over without: model B 1.015–1.016 and C 1.014–1.016 in three runs each (68–83
    /// wins), A 1.004 and 1.008; on AVX-512 a replica's 32 rows are four whole tiles.
    @inline(__always)
    static func tileRows(remaining: Int) -> Int {
        remaining > rows && remaining < rows + busyRows ? (remaining + 1) / 2 : Swift.min(rows, remaining)
    }
}

#if arch(x86_64)
/// AVX-512: 16 accumulators + 2 B + 1 broadcast = 19 of 32 zmm registers. (The broadcast is
/// usually folded into the FMA as a {1to16} memory operand.)
enum AVX512Tile: MicroTile {
    typealias Vector = SIMD16<Float>
    static var rows: Int { 8 }
    static var vectors: Int { 2 }
}

/// AVX2 + FMA: 12 accumulators + 2 B + 1 broadcast = 15 of 16 ymm registers.
enum AVX2Tile: MicroTile {
    typealias Vector = SIMD8<Float>
    static var rows: Int { 6 }
    static var vectors: Int { 2 }
}
#endif

#if arch(arm64)
/// NEON: 24 accumulators + 3 B + 1 A = 28 of 32 q registers; 8×16 would need 32 accumulators
/// alone. Built for AArch64 and run under qemu-user by `CrossISATileTests`, whose reading of the
/// disassembly finds the k loop as planned: 24 `fmla` (21 of them by lane), 3 `q` loads of B
/// and 8 loads of A, a float each (two registers take turns holding them), nothing on the
/// stack. Not timed on a real core (no AArch64 machine here).
enum NEONTile: MicroTile {
    typealias Vector = SIMD4<Float>
    static var rows: Int { 8 }
    static var vectors: Int { 3 }
}
#endif

/// Any CPU: 8 accumulators + 2 B + 1 broadcast = 11 registers of 128 bits, within the 16 of
/// SSE and of most vector ISAs.
enum GenericTile: MicroTile {
    typealias Vector = SIMD4<Float>
    static var rows: Int { 4 }
    static var vectors: Int { 2 }
}
