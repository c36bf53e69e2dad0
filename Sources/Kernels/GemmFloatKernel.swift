/// The fast Float product behind `gemm`, generic over the register tile (`MicroTile`) of the
/// chosen `KernelPath`.
///
/// The micro-kernel walks op(B) in panels of `T.columns` columns, k-row by k-row: an
/// untransposed B under at most one chunk of A's rows is read where it lies (`readsBInPlace`);
/// any other is packed into panels that are contiguous over k (zero-padded at the right edge),
/// one k-block (`BLayout.kBlockRows`) at a time, by each thread for itself: only the panels it
/// multiplies by, just before it does, into a block of its own (`BLayout.packedPerBlock`). A
/// is read one element at a time and broadcast: in place through a
/// (row stride, k stride) pair when its rows run along k, and copied chunk by chunk into tiles
/// that do (`PanelProduct.packA`) when it is transposed. A right-edge panel narrower than one
/// vector, under an A read in place, runs as dot products along k instead (`DotEdge`). Threads
/// take disjoint blocks of C (rows, or panels of columns) and share B, read-only.

@usableFromInline let kBlock = 256

/// The k-block of a packed recurrent weight (`PackedMatrix.pack(… kBlockRows:)`, given by
/// `RecurrentLayer`). Each k-block is one pass over C that loads, adds to and stores every
/// tile, so model B's recurrence (k = 512) made two passes at `kBlock` where one does; the
/// weight is packed whole, so its memory does not change. Products summed over the T·B
/// positions keep `kBlock` whatever their layout: a thread's own packed block (kc × n floats)
/// would double, and dWh streamed in blocks on the packed states must add up exactly as the
/// one product and as any thread count does (`StreamedGradientTests`; 512-row blocks there too
/// made a 1-thread and a 3-thread training run part in the last bits, then, at lr 0.05, by
/// step 30). Steps alternating ABBA in one process, 100 pairs a run (Zen 5, 2026-12-02), median
/// ratio of 512-row over 256-row blocks for the recurrent weights: model B 1.015–1.016 on the
/// AVX2 tile and 1.014–1.022 on AVX-512 (whose 512-row panels, 64 KB, exceed the 48 KB L1); C
/// 1.005–1.014 and 1.007–1.011. On a Zen 4, whose L1 (32 KB) a 512-row AVX2 panel fills, 256-row
/// blocks over 512 for model B on the AVX2 tile: 0.991, 0.998 and 0.994 (2026-12-07).
public let recurrentKBlock = 512

extension KernelPath {
    /// Floats per vector register of the path's kernels.
    @usableFromInline var vectorLanes: Int {
        switch self {
        case .avx512: return 16
        case .avx2: return 8
        case .neon, .generic: return 4
        }
    }

    /// The rows and columns of C in the path's register tile. (The products switch on the path
    /// themselves, so that each runs the micro-kernel specialised for its tile.)
    var tileDimensions: (rows: Int, columns: Int) {
        switch self {
        #if arch(x86_64)
        case .avx512: (AVX512Tile.rows, AVX512Tile.columns)
        case .avx2: (AVX2Tile.rows, AVX2Tile.columns)
        #endif
        #if arch(arm64)
        case .neon: (NEONTile.rows, NEONTile.columns)
        #endif
        default: (GenericTile.rows, GenericTile.columns)
        }
    }

    /// The width of the product's panels of B: its tile's columns.
    @usableFromInline var panelWidth: Int { tileDimensions.columns }
}

/// Whether op(B) is read where it lies instead of packed first: an untransposed B whose rows
/// pass under one chunk of A (`singleChunkRows` rows at most). Such a product reads each panel
/// once (per k-block), so a packed copy would be read once too and only cost its writing (the output
/// weight gradient dU, 65×512×3200: 77–84 GFLOP/s in place vs 70 packed on the AVX-512 tile,
/// 52–62 vs 38–41 on the AVX2 tile, 1 core of a Xeon with AVX-512), and the step keeps no
/// 6.5 MB packed copy of the hidden states. With more rows each panel is read once per chunk,
/// and a strided panel (rows `ldb` floats apart, 2 KB for H 512) falls into a few L1 sets and
/// is evicted between chunks, while a packed one is contiguous and stays: dWh 512×512×3200
/// 77 → 90 (AVX-512), 45 → 52 (AVX2); dH 3200×512×65 60–88 → 99, 34–58 → 55–58. With n a
/// multiple of the vector width no read passes a row's end. A transposed B is always packed:
/// its columns are strided.
@usableFromInline
func readsBInPlace(m: Int, n: Int, transposeB: Bool, path: KernelPath) -> Bool {
    !transposeB && n % path.vectorLanes == 0 && m <= singleChunkRows
}

/// How many floats `packPanels` writes for a (k×n) operand.
@usableFromInline
func packedSize(k: Int, n: Int, path: KernelPath) -> Int {
    let width = path.panelWidth
    return k * ((n + width - 1) / width) * width
}

@usableFromInline
func fastFloatGemm(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int, transposeA: Bool,
    b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    accumulate: Bool, threads: Int, path: KernelPath
) {
    if readsBInPlace(m: m, n: n, transposeB: transposeB, path: path) {
        floatGemm(m: m, n: n, k: k, a: a, lda: lda, transposeA: transposeA, b: b, bLayout: .inPlace(ldb: ldb),
                  c: c, ldc: ldc, accumulate: accumulate, threads: threads, path: path)
        return
    }
    floatGemm(m: m, n: n, k: k, a: a, lda: lda, transposeA: transposeA, b: b,
              bLayout: .packedPerBlock(ldb: ldb, transposed: transposeB),
              c: c, ldc: ldc, accumulate: accumulate, threads: threads, path: path)
}

/// Where the micro-kernel finds op(B): `packPanels`'s layout, or B itself (k×n, row stride ldb).
@usableFromInline
enum BLayout: Sendable {
    /// `packPanels`'s layout, in k-blocks of `kBlockRows` rows.
    case packed(kBlockRows: Int)
    case inPlace(ldb: Int)
    /// B itself (k×n, or n×k when `transposed`), which each thread packs, k-block by k-block,
    /// into a block of its own: only its panels, just before it multiplies by them, so the
    /// block is still in its cache; its panels are `blockPanelStride` apart. Packed whole first
    /// (6.5 MB for dWh 512×512×3200, written out and read back), the same products ran slower.
    /// Six pairs of `bench --kernels` on a Xeon with AVX-512, 2026-12-02, geometric mean of this
    /// over that: dWh 1.26× on 1 thread and 1.09× on 2 (AVX2 tile, the old way first in each
    /// pair); 1.12× and 1.17× (AVX-512 tile, the two taking turns); logits 1.06–1.19×; dH
    /// 0.98–1.17×. On a Zen 5 (in-process pairs, the whole packed by both threads first, 2
    /// threads, AVX2 tile): dWh 0.948, dH 0.971.
    case packedPerBlock(ldb: Int, transposed: Bool)

    /// Rows of op(B) per k-block: the packed layout's own; for a transposed B, `recurrentKBlock`
    /// as for the recurrent weight; `kBlock` for the others. A transposed B is a weight stored
    /// (out, in) (the logits' U), whose k is its input width, never the positions that a weight
    /// gradient sums over and must keep in `kBlock`s; the logits' k = 512 (model B) then passes
    /// over C once rather than twice. In-process pairs of `bench --kernels` products, 80
    /// alternating windows a run (Zen 4, 2026-12-06), median ratio of 512-row over 256-row
    /// blocks: the logits 1.087 and 1.133 on 1 AVX2 thread, 1.015 and 1.035 on 2; 1.040 and 1.069,
    /// 1.016 and 1.028 on AVX-512. Model B's steps, alternating ABBA (100 pairs a run, 2
    /// threads): 1.003 and 1.004 on the AVX2 tile, 0.997 and 1.002 on AVX-512. A thread's packed
    /// block doubles with it: a word model's U (V 5000, H 512) takes 10 MB a thread rather than
    /// 5 while the logits run; 150 steps of that model (GRU, 2 threads) peaked at 376–403 MB
    /// with either block and ran 5.0–5.2 k tokens/s against 4.8–5.1 k, three runs each.
    var kBlockRows: Int {
        switch self {
        case .packed(let rows): rows
        case .packedPerBlock(_, transposed: true): recurrentKBlock
        default: kBlock
        }
    }
}

/// The product proper, with op(B) in the packed layout of `packPanels` for `path`.
@usableFromInline
func packedFloatGemm(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int, transposeA: Bool,
    packed: UnsafePointer<Float>, kBlockRows: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    accumulate: Bool, threads: Int, path: KernelPath
) {
    floatGemm(m: m, n: n, k: k, a: a, lda: lda, transposeA: transposeA, b: packed,
              bLayout: .packed(kBlockRows: kBlockRows), c: c, ldc: ldc, accumulate: accumulate, threads: threads,
              path: path)
}

/// C (+)= op(A) · op(B) with op(B) as `bLayout` says, on `path`'s tile.
func floatGemm(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int, transposeA: Bool,
    b: UnsafePointer<Float>, bLayout: BLayout,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    accumulate: Bool, threads: Int, path: KernelPath
) {
    if !accumulate && k == 0 {
        for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) }
    }
    guard m > 0, n > 0, k > 0 else { return }
    func run<T: MicroTile>(_: T.Type) {
        let product = PanelProduct<T>(n: n, k: k, a: a, aRowStride: transposeA ? 1 : lda, aKStride: transposeA ? lda : 1,
                                      b: b, bLayout: bLayout, c: c, ldc: ldc, accumulate: accumulate)
        product.run(m: m, threads: threads)
    }
    switch path {
    #if arch(x86_64)
    case .avx512: run(AVX512Tile.self)
    case .avx2: run(AVX2Tile.self)
    #endif
    #if arch(arm64)
    case .neon: run(NEONTile.self)
    #endif
    default: run(GenericTile.self)
    }
}

/// How many k's ahead `PanelProduct.packA` prefetches a transposed A: about a memory latency
/// of copying.
@usableFromInline let prefetchAhead = 16

/// The most rows of A that a thread takes through every panel as one chunk: a product of up to
/// this many rows passes over op(B) once per k-block (which `readsBInPlace` and the blocks of
/// the training's dWh rely on). A longer one goes in chunks of at most `rowChunk` rows.
@usableFromInline let singleChunkRows = 128

/// The most rows of A in one chunk of a product longer than `singleChunkRows`
/// (`PanelProduct.multiply`).
@usableFromInline let rowChunk = 96

/// How many chunks a thread's `rows` rows of A are taken in (`PanelProduct.multiply` cuts them
/// as `partRange` does: whole tiles, as even as that allows): one up to `singleChunkRows`;
/// past that, as few as hold at most `rowChunk` rows each. Chunks of 128 rows left a 2-row
/// tile at the end of each on the 6-row AVX2 tile, and a 2-row chunk after two of them in the
/// 258 rows of a thread's half of dWh; chunks of at most 96 also keep more of a chunk of A near
/// the core. In-process pairs of `bench --kernels` products, 40 alternating windows each, on a
/// Xeon with AVX-512, 2026-12-02, median ratio of these chunks over 128-row ones: dWh 1.021
/// (1 thread) and 1.030 (2 threads) on the AVX2 tile, 1.017 and 1.019 on AVX-512; dH 1.046
/// and 1.026 on AVX2, 1.028 and 1.045 on AVX-512; the logits 1.002–1.021; dU (65 rows, one
/// chunk either way) 0.980–1.001. Fixed chunks of 48, 60 or 72 rows did no better than 96 for
/// dWh.
@inlinable
func rowChunks(_ rows: Int) -> Int {
    rows <= singleChunkRows ? 1 : (rows + rowChunk - 1) / rowChunk
}

/// Below this many FMAs (~40 µs of one core) a product is not split between threads.
@usableFromInline let minimumFMAsPerThread = 1 << 22

/// Whether giving each thread a range of panels (all rows) keeps the busiest thread less busy
/// than giving each a range of rows (all panels), counted in micro-kernel calls.
@usableFromInline
func splitsByPanels(m: Int, panels: Int, threads: Int, tileRows: Int) -> Bool {
    guard threads > 1 else { return false }
    let rowBlocks = (m + tileRows - 1) / tileRows
    let byRows = (rowBlocks + threads - 1) / threads * panels
    let byPanels = (panels + threads - 1) / threads * rowBlocks
    return byPanels < byRows
}

/// One product's operands, shared read-only by the threads; each writes its own block of C.
struct PanelProduct<T: MicroTile>: @unchecked Sendable {
    let n, k: Int
    let a: UnsafePointer<Float>
    let aRowStride, aKStride: Int
    let b: UnsafePointer<Float>
    let bLayout: BLayout
    let c: UnsafeMutablePointer<Float>
    let ldc: Int
    let accumulate: Bool

    var panels: Int { (n + T.columns - 1) / T.columns }

    /// Work is split between threads by rows of C, or by panels (columns) when that balances
    /// better — a product with few rows, such as the output weight gradient (V = 65 rows), would
    /// otherwise leave one thread idle for part of the time.
    ///
    /// Rows go in parts of whole `busyRows`, not whole tiles: a part's tail then runs as tiles
    /// that keep the FMA units busy (`tileRows`), and the parts are more even. dWh's 512 rows
    /// on 2 AVX2 threads: 256 + 256, each 42 tiles and a 4-row one, where whole tiles gave 258
    /// (43 tiles) + 254 (42 and a 2-row tile at half rate), and the product waited for the 258.
    func run(m: Int, threads: Int) {
        let threads = usefulThreads(threads, work: m * n * k, perThread: minimumFMAsPerThread)
        if splitsByPanels(m: m, panels: panels, threads: threads, tileRows: T.rows) {
            parallelFor(panels, threads: threads) { multiply(rows: 0..<m, panels: $0) }
        } else {
            parallelFor(m, threads: threads, grain: T.busyRows) { multiply(rows: $0, panels: 0..<panels) }
        }
    }

    /// The first float of panel p at k-block row k0 (kc rows), and the bytes from one k to the
    /// next inside it.
    /// `block` is the thread's own packed k-block (`BLayout.packedPerBlock`), holding panels
    /// from `firstPanel` on.
    func panel(_ p: Int, k0: Int, kc: Int, block: UnsafePointer<Float>?, firstPanel: Int) -> (UnsafePointer<Float>, kStrideBytes: Int) {
        switch bLayout {
        case .packed: (b + k0 * panels * T.columns + p * kc * T.columns, T.columns * 4)
        case .inPlace(let ldb): (b + k0 * ldb + p * T.columns, ldb * 4)
        case .packedPerBlock: (block! + (p - firstPanel) * blockPanelStride(kc: kc), T.columns * 4)
        }
    }

    /// Floats from one panel to the next in a thread's packed k-block (`BLayout.packedPerBlock`):
    /// the panel's kc rows and one row more. Without that row the panels are kc·`T.columns`
    /// floats apart, a multiple of 4 KB (16 KB for kc 256 on the AVX2 tile), so packing one row
    /// of B, which writes the same row of every panel, sent all its stores to one L1 set.
    /// In-process pairs of `bench --kernels` products, 40 alternating windows each (Zen 5,
    /// 2026-12-02), median ratio with the row over without: dWh 1.014–1.018 on 1 thread and
    /// 1.038–1.043 on 2 on the AVX2 tile (36–39 wins of 40), 1.005 and 1.003 on AVX-512; the
    /// logits (B transposed) and dH alike before and after. Padding the tiles of a packed A the
    /// same way changed nothing (1.001–1.005).
    func blockPanelStride(kc: Int) -> Int { kc * T.columns + T.columns }

    /// C[rows, columns of `panels`] (+)= A[rows, :] · op(B)[:, columns of `panels`]. The loops
    /// run k-block → chunk of rows (`rowChunks`) → panel → tile rows: one kc-row panel of B stays
    /// in L1 while the rows of a chunk pass over it, and the chunk of A (at most 128 × kc floats:
    /// 128 KB) stays in L2 while every panel passes over it.
    ///
    /// A transposed A is first copied, chunk by chunk, into `packA`'s layout, the next chunk's
    /// rows brought into L2 while the current one runs (`prefetchA`).
    func multiply(rows: Range<Int>, panels: Range<Int>) {
        // A transposed (the weight gradients dZᵀ·H) is read a tile row per k with each k a
        // whole row of the stored matrix (`lda` floats) apart, which thrashes L1 as a strided
        // B panel does; packed per chunk it is contiguous. dWh 45 → 57 GFLOP/s on the AVX2
        // tile, 77 → 86 on AVX-512; dU unchanged. An untransposed A (rows contiguous over k)
        // streams well in place: packing it only cost (logits 54 → 43).
        let kBlockRows = bLayout.kBlockRows
        let chunks = rowChunks(rows.count)
        let packsA = aKStride != 1 && panels.count > 1
        let packedRows = ((rows.count + T.rows - 1) / T.rows + chunks - 1) / chunks * T.rows   // the longest chunk's tiles
        let packed = packsA ? UnsafeMutablePointer<Float>.allocateCacheAligned(capacity: packedRows * kBlockRows) : nil
        defer { packed?.deallocate() }
        // A right-edge panel narrower than a vector runs as dot products along k (`DotEdge`).
        let edgeColumns = panels.upperBound == self.panels ? n - (self.panels - 1) * T.columns : T.columns
        let dotEdge = !packsA && usesDotEdge(T.self, columns: edgeColumns, aKStride: aKStride)
        let edge = dotEdge ? UnsafeMutablePointer<Float>.allocateCacheAligned(capacity: kBlockRows * edgeColumns) : nil
        defer { edge?.deallocate() }
        var block: UnsafeMutablePointer<Float>? = nil
        if case .packedPerBlock = bLayout { block = .allocateCacheAligned(capacity: panels.count * blockPanelStride(kc: kBlockRows)) }
        defer { block?.deallocate() }
        func panel(_ p: Int, k0: Int, kc: Int) -> (UnsafePointer<Float>, kStrideBytes: Int) {
            self.panel(p, k0: k0, kc: kc, block: block, firstPanel: panels.lowerBound)
        }
        func chunkRows(_ index: Int) -> Range<Int> {
            let part = partRange(index, of: rows.count, parts: chunks, grain: T.rows)
            return (rows.lowerBound + part.lowerBound)..<(rows.lowerBound + part.upperBound)
        }
        var k0 = 0
        while k0 < k {
            let kc = min(kBlockRows, k - k0)
            let overwrite = k0 == 0 && !accumulate
            if let block, case .packedPerBlock(let ldb, let transposed) = bLayout {
                packBlock(b, ldb: ldb, transposed: transposed, n: n, k0: k0, kc: kc, panels: panels,
                          width: T.columns, into: block, panelStride: blockPanelStride(kc: kc))
            }
            if let edge {   // once per k-block: every chunk of rows reads the same columns
                let (bPanel, bStride) = panel(self.panels - 1, k0: k0, kc: kc)
                gatherColumns(bPanel, strideBytes: bStride, kc: kc, columns: edgeColumns, into: edge)
            }
            for chunkIndex in 0..<chunks {
                let chunk = chunkRows(chunkIndex)
                let (chunkStart, chunkEnd) = (chunk.lowerBound, chunk.upperBound)
                if let packed { packA(rows: chunkStart..<chunkEnd, k0: k0, kc: kc, into: packed) }
                // The chunk `packA` copies next: this chunk's successor, or the first of the next k-block.
                let nextChunk: (rows: Range<Int>, k0: Int, kc: Int)? = if packed == nil {
                    nil
                } else if chunkIndex + 1 < chunks {
                    (chunkRows(chunkIndex + 1), k0, kc)
                } else if k0 + kc < k {
                    (chunkRows(0), k0 + kc, min(kBlockRows, k - k0 - kc))
                } else {
                    nil
                }
                for p in panels {
                    if let nextChunk {
                        prefetchA(rows: nextChunk.rows, k0: nextChunk.k0,
                                  ks: partRange(p - panels.lowerBound, of: nextChunk.kc, parts: panels.count))
                    }
                    let columns = min(T.columns, n - p * T.columns)
                    let (bPanel, bStride) = panel(p, k0: k0, kc: kc)
                    if let edge, p == self.panels - 1 {
                        var i = chunkStart
                        while i < chunkEnd {
                            let mr = min(T.rows, chunkEnd - i)
                            dotEdgeKernel(T.self, kc: kc, a: a + i * aRowStride + k0, rowStride: aRowStride, validRows: mr,
                                          e: edge, c: c + i * ldc + p * T.columns, ldc: ldc, columns: columns,
                                          overwrite: overwrite)
                            i += mr
                        }
                        continue
                    }
                    var (i, tile) = (chunkStart, 0)
                    while i < chunkEnd {
                        let mr = T.tileRows(remaining: chunkEnd - i)
                        if let packed {
                            runMicroKernel(T.self, kc: kc, a: packed + tile * T.rows * kc, rowStride: 1,
                                           kStride: T.rows, validRows: mr, b: bPanel, bStrideBytes: bStride,
                                           c: c + i * ldc + p * T.columns, ldc: ldc, columns: columns, overwrite: overwrite)
                        } else {
                            runMicroKernel(T.self, kc: kc, a: a + i * aRowStride + k0 * aKStride, rowStride: aRowStride,
                                           kStride: aKStride, validRows: mr, b: bPanel, bStrideBytes: bStride,
                                           c: c + i * ldc + p * T.columns, ldc: ldc, columns: columns, overwrite: overwrite)
                        }
                        (i, tile) = (i + mr, tile + 1)
                    }
                }
            }
            k0 += kc
        }
    }

    /// Brings the stored bands of a transposed A that `packA(rows:k0:…)` will copy for k's
    /// `k0 + ks` into L2: `multiply` asks for the next chunk's bands a slice per panel of the
    /// current one, so that the copy finds them there. Its own `prefetchAhead` reaches only a
    /// few bands ahead, which left the copy waiting on each (A packing was 5.6 % of dWh's
    /// samples on one thread, AVX2 tile). Into L2 only, not L1, where the current panel of B
    /// lies. In-process pairs of `bench --kernels` products, 40 or 100 alternating windows a
    /// run (Zen 4, 2026-12-06), median ratio with over without: dWh on the AVX2 tile
    /// 1.005–1.024 on 1 thread (five runs, winning 62–89 % of the pairs), 1.000–1.010 on 2; on
    /// AVX-512 1.010 and 1.002; dU 0.993–1.002. Into L1 instead (prefetcht0): dWh 1.007 on 1
    /// thread, 1.011 on 2.
    func prefetchA(rows: Range<Int>, k0: Int, ks: Range<Int>) {
        for kk in ks { prefetch(band(rows, k: k0 + kk), count: rows.count, outerOnly: true) }
    }

    /// Where a transposed A stores `rows` at one k: `rows.count` floats side by side
    /// (`aRowStride` 1), a whole stored row (`aKStride`) from the next k's.
    @inline(__always)
    func band(_ rows: Range<Int>, k: Int) -> UnsafePointer<Float> {
        a + rows.lowerBound * aRowStride + k * aKStride
    }

    /// A[rows, k0..<k0+kc] as the tiles `multiply` runs (`tileRows`: whole ones, the last two
    /// shared evenly when the tail is short), each in a slot of (kc, T.rows) floats: tile t at
    /// t·T.rows·kc, so the micro-kernel reads A with row stride 1 and k stride `T.rows`. Only a
    /// transposed A is packed (`multiply`), so its rows at one k lie side by side.
    ///
    /// k outer: for a transposed A, the chunk's rows at one k lie side by side in the stored
    /// matrix, so each k's values are read once, front to back, and dealt to the tiles. Tile
    /// by tile, each k's cache line was fetched again for every tile it spans, after the other
    /// k of the block (a whole stored row apart each) had evicted it: 87 % of the packing's
    /// samples sat on that copy (model C, dWh).
    ///
    /// Each k's band of the chunk's rows (up to 512 bytes) is a whole stored row (`lda` floats,
    /// 2–4 KB in models B and C) after the previous one, so every band or two starts a new 4 KB
    /// page, where the hardware prefetchers stop: each band waited for memory, and the copy was
    /// 6 % of model C's step. The band `prefetchAhead` k's further on is prefetched instead.
    func packA(rows: Range<Int>, k0: Int, kc: Int, into packed: UnsafeMutablePointer<Float>) {
        assert(aRowStride == 1, "only a transposed A is packed")
        for kk in 0..<kc {
            let source = band(rows, k: k0 + kk)
            prefetch(source + prefetchAhead * aKStride, count: rows.count)   // the band prefetchAhead k's on
            // aRowStride is 1. Whole tiles with the constant count, so each copy is its moves.
            var (i, tile) = (0, 0)
            while rows.count - i >= T.rows + T.busyRows {
                copyShortRow(from: source + i, to: packed + tile * T.rows * kc + kk * T.rows, count: T.rows)
                (i, tile) = (i + T.rows, tile + 1)
            }
            while i < rows.count {
                let mr = T.tileRows(remaining: rows.count - i)
                copyShortRow(from: source + i, to: packed + tile * T.rows * kc + kk * T.rows, count: mr)
                (i, tile) = (i + mr, tile + 1)
            }
        }
    }
}
