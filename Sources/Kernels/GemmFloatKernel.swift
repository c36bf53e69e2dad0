/// The fast Float product behind `gemm`.
///
/// The micro-kernel walks op(B) in panels of 32 columns, k-row by k-row: an untransposed B is
/// read where it lies (`readsBInPlace`); a transposed one is first packed into panels that are
/// contiguous over k (zero-padded at the right edge), one k-block of `kBlock` rows after another.
/// A is read in place, one element at a time and broadcast, through a (row stride, k stride)
/// pair, so a transposed A costs nothing. The micro-kernel keeps an 8×32 block of C in sixteen
/// `SIMD16<Float>` accumulators (FMA on AVX-512 when built for the host CPU; see Package.swift).
/// Threads take disjoint blocks of C (rows, or panels of columns) and share B, read-only.

@usableFromInline let panelWidth = 32
@usableFromInline let microRows = 8
@usableFromInline let kBlock = 256

@usableFromInline
func panelCount(_ n: Int) -> Int { (n + panelWidth - 1) / panelWidth }

@usableFromInline
func fastFloatGemm(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int, transposeA: Bool,
    b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    accumulate: Bool, threads: Int
) {
    if readsBInPlace(n: n, transposeB: transposeB) {
        floatGemm(m: m, n: n, k: k, a: a, lda: lda, transposeA: transposeA, b: b, bLayout: .inPlace(ldb: ldb),
                  c: c, ldc: ldc, accumulate: accumulate, threads: threads)
        return
    }
    let packed = UnsafeMutablePointer<Float>.allocate(capacity: max(1, k * panelCount(n) * panelWidth))
    defer { packed.deallocate() }
    packPanels(b, ldb: ldb, transposed: transposeB, k: k, n: n, into: packed, threads: threads)
    floatGemm(m: m, n: n, k: k, a: a, lda: lda, transposeA: transposeA, b: packed, bLayout: .packed,
              c: c, ldc: ldc, accumulate: accumulate, threads: threads)
}

/// Whether op(B) is read where it lies instead of packed first. An untransposed B already has
/// each panel's k-rows contiguous (32 floats each, `ldb` apart); on this CPU's caches reading
/// them strided costs less than the copy (measured on one core: the output weight gradient
/// 65×512×3200 ~90–99 vs ~70 GFLOP/s packed; dWh 512×512×3200 ~104 vs ~99), and the step keeps
/// no 6.5 MB packed copy of the hidden states. With n a multiple of 16 no read
/// passes a row's end. A transposed B must be packed: its columns are strided.
@usableFromInline
func readsBInPlace(n: Int, transposeB: Bool) -> Bool {
    !transposeB && n % 16 == 0
}

/// Where the micro-kernel finds op(B): `packPanels`'s layout, or B itself (k×n, row stride ldb).
@usableFromInline
enum BLayout: Sendable {
    case packed
    case inPlace(ldb: Int)
}

/// The product proper, with op(B) in the packed layout of `packPanels`.
@usableFromInline
func packedFloatGemm(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int, transposeA: Bool,
    packed: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    accumulate: Bool, threads: Int
) {
    floatGemm(m: m, n: n, k: k, a: a, lda: lda, transposeA: transposeA, b: packed, bLayout: .packed,
              c: c, ldc: ldc, accumulate: accumulate, threads: threads)
}

/// C (+)= op(A) · op(B) with op(B) as `bLayout` says.
///
/// Work is split between threads by rows of C, or by panels (columns) when that balances
/// better — a product with few rows, such as the output weight gradient (V = 65 rows), would
/// otherwise leave one thread idle for part of the time. Inside a thread the loops run
/// k-block → chunk of `rowChunk` rows → panel → 8 rows: one kc×32 panel of B stays in L1
/// while the rows of a chunk pass over it, and the chunk of A (at most 128×256 floats, 128 KB)
/// stays in L2 while every panel passes over it.
func floatGemm(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int, transposeA: Bool,
    b: UnsafePointer<Float>, bLayout: BLayout,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    accumulate: Bool, threads: Int
) {
    if !accumulate && k == 0 {
        for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) }
    }
    guard m > 0, n > 0, k > 0 else { return }
    let product = PanelProduct(n: n, k: k, a: a, aRowStride: transposeA ? 1 : lda, aKStride: transposeA ? lda : 1,
                               b: b, bLayout: bLayout, c: c, ldc: ldc, accumulate: accumulate)
    let panels = panelCount(n)
    let threads = usefulThreads(threads, work: m * n * k, perThread: minimumFMAsPerThread)
    if splitsByPanels(m: m, panels: panels, threads: threads) {
        parallelFor(panels, threads: threads) { product.multiply(rows: 0..<m, panels: $0) }
    } else {
        parallelFor(m, threads: threads, grain: microRows) { product.multiply(rows: $0, panels: 0..<panels) }
    }
}

@usableFromInline let rowChunk = 128

/// Below this many FMAs (~40 µs of one core) a product is not split between threads.
@usableFromInline let minimumFMAsPerThread = 1 << 22

/// Whether giving each thread a range of panels (all rows) keeps the busiest thread less busy
/// than giving each a range of rows (all panels), counted in micro-kernel calls.
@usableFromInline
func splitsByPanels(m: Int, panels: Int, threads: Int) -> Bool {
    guard threads > 1 else { return false }
    let rowBlocks = (m + microRows - 1) / microRows
    let byRows = (rowBlocks + threads - 1) / threads * panels
    let byPanels = (panels + threads - 1) / threads * rowBlocks
    return byPanels < byRows
}

/// One product's operands, shared read-only by the threads; each writes its own block of C.
struct PanelProduct: @unchecked Sendable {
    let n, k: Int
    let a: UnsafePointer<Float>
    let aRowStride, aKStride: Int
    let b: UnsafePointer<Float>
    let bLayout: BLayout
    let c: UnsafeMutablePointer<Float>
    let ldc: Int
    let accumulate: Bool

    /// The first float of panel p (columns 32p…) at k-block row k0 (kc rows), and the bytes
    /// from one k to the next inside it.
    func panel(_ p: Int, k0: Int, kc: Int) -> (UnsafePointer<Float>, kStrideBytes: Int) {
        switch bLayout {
        case .packed: (b + k0 * panelCount(n) * panelWidth + p * kc * panelWidth, panelWidth * 4)
        case .inPlace(let ldb): (b + k0 * ldb + p * panelWidth, ldb * 4)
        }
    }

    /// C[rows, columns of `panels`] (+)= A[rows, :] · op(B)[:, columns of `panels`].
    func multiply(rows: Range<Int>, panels: Range<Int>) {
        var k0 = 0
        while k0 < k {
            let kc = min(kBlock, k - k0)
            let overwrite = k0 == 0 && !accumulate
            var chunk = rows.lowerBound
            while chunk < rows.upperBound {
                let chunkEnd = min(chunk + rowChunk, rows.upperBound)
                for p in panels {
                    let columns = min(panelWidth, n - p * panelWidth)
                    var i = chunk
                    while i < chunkEnd {
                        let mr = min(microRows, chunkEnd - i)
                        let aBlock = a + i * aRowStride + k0 * aKStride
                        let (bPanel, bStride) = panel(p, k0: k0, kc: kc)
                        let cBlock = c + i * ldc + p * panelWidth
                        if columns > 16 {
                            microKernel(kc: kc, a: aBlock, rowStride: aRowStride, kStride: aKStride, rows: mr,
                                        b: bPanel, bStrideBytes: bStride, c: cBlock, ldc: ldc, columns: columns,
                                        overwrite: overwrite, narrow: false)
                        } else {   // a right-edge panel of ≤ 16 columns: half the FMAs
                            microKernel(kc: kc, a: aBlock, rowStride: aRowStride, kStride: aKStride, rows: mr,
                                        b: bPanel, bStrideBytes: bStride, c: cBlock, ldc: ldc, columns: columns,
                                        overwrite: overwrite, narrow: true)
                        }
                        i += mr
                    }
                }
                chunk = chunkEnd
            }
            k0 += kc
        }
    }
}

/// Packs op(B) (k×n) for the micro-kernel: k-block by k-block (`kBlock` rows each), each block
/// as panels of 32 columns holding kc rows of 32 floats, zero-padded past column n. Threads
/// take disjoint ranges of k-blocks.
func packPanels(_ b: UnsafePointer<Float>, ldb: Int, transposed: Bool, k: Int, n: Int,
                into packed: UnsafeMutablePointer<Float>, threads: Int) {
    let panels = panelCount(n)
    let (source, destination) = (SendableConstPointer(b), SendablePointer(packed))
    parallelFor(k, threads: threads, grain: kBlock) { range in
        var k0 = range.lowerBound
        while k0 < range.upperBound {
            let kc = min(kBlock, k - k0)
            let block = destination.base + k0 * panels * panelWidth
            for p in 0..<panels {
                let j0 = p * panelWidth
                let width = min(panelWidth, n - j0)
                let panel = block + p * kc * panelWidth
                for kk in 0..<kc {
                    let dst = panel + kk * panelWidth
                    if transposed {
                        let src = source.base + j0 * ldb + (k0 + kk)
                        for j in 0..<width { dst[j] = src[j * ldb] }
                    } else {
                        dst.update(from: source.base + (k0 + kk) * ldb + j0, count: width)
                    }
                    if width < panelWidth { (dst + width).update(repeating: 0, count: panelWidth - width) }
                }
            }
            k0 += kc
        }
    }
}

/// C[0..<rows, 0..<columns] += A[0..<rows, 0..<kc] · B (kc×32, rows `bStrideBytes` apart) — or = with `overwrite`
/// (the first k-block of a product that does not accumulate, which saves zeroing C first) —
/// for up to 8 rows held in sixteen `SIMD16<Float>` accumulators. Rows past `rows` repeat row 0
/// (their results are dropped), so one register schedule serves every tail. `narrow` (a
/// constant at each call site) drops the right half of the panel: columns ≤ 16 only.
@inline(__always)
private func microKernel(kc: Int, a: UnsafePointer<Float>, rowStride: Int, kStride: Int, rows: Int,
                         b: UnsafePointer<Float>, bStrideBytes: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                         columns: Int, overwrite: Bool, narrow: Bool) {
    let a0 = a
    let a1 = rows > 1 ? a + rowStride : a
    let a2 = rows > 2 ? a + 2 * rowStride : a
    let a3 = rows > 3 ? a + 3 * rowStride : a
    let a4 = rows > 4 ? a + 4 * rowStride : a
    let a5 = rows > 5 ? a + 5 * rowStride : a
    let a6 = rows > 6 ? a + 6 * rowStride : a
    let a7 = rows > 7 ? a + 7 * rowStride : a
    var c00 = SIMD16<Float>(), c01 = SIMD16<Float>()
    var c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
    var c20 = SIMD16<Float>(), c21 = SIMD16<Float>()
    var c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
    var c40 = SIMD16<Float>(), c41 = SIMD16<Float>()
    var c50 = SIMD16<Float>(), c51 = SIMD16<Float>()
    var c60 = SIMD16<Float>(), c61 = SIMD16<Float>()
    var c70 = SIMD16<Float>(), c71 = SIMD16<Float>()
    var bRow = UnsafeRawPointer(b)
    var offset = 0
    for _ in 0..<kc {
        let b0 = bRow.loadUnaligned(as: SIMD16<Float>.self)
        let x0 = a0[offset], x1 = a1[offset], x2 = a2[offset], x3 = a3[offset]
        let x4 = a4[offset], x5 = a5[offset], x6 = a6[offset], x7 = a7[offset]
        c00.addProduct(x0, b0); c10.addProduct(x1, b0); c20.addProduct(x2, b0); c30.addProduct(x3, b0)
        c40.addProduct(x4, b0); c50.addProduct(x5, b0); c60.addProduct(x6, b0); c70.addProduct(x7, b0)
        if !narrow {
            let b1 = bRow.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
            c01.addProduct(x0, b1); c11.addProduct(x1, b1); c21.addProduct(x2, b1); c31.addProduct(x3, b1)
            c41.addProduct(x4, b1); c51.addProduct(x5, b1); c61.addProduct(x6, b1); c71.addProduct(x7, b1)
        }
        offset &+= kStride
        bRow += bStrideBytes
    }
    addRow(c00, c01, to: c, columns: columns, overwrite: overwrite)
    if rows > 1 { addRow(c10, c11, to: c + ldc, columns: columns, overwrite: overwrite) }
    if rows > 2 { addRow(c20, c21, to: c + 2 * ldc, columns: columns, overwrite: overwrite) }
    if rows > 3 { addRow(c30, c31, to: c + 3 * ldc, columns: columns, overwrite: overwrite) }
    if rows > 4 { addRow(c40, c41, to: c + 4 * ldc, columns: columns, overwrite: overwrite) }
    if rows > 5 { addRow(c50, c51, to: c + 5 * ldc, columns: columns, overwrite: overwrite) }
    if rows > 6 { addRow(c60, c61, to: c + 6 * ldc, columns: columns, overwrite: overwrite) }
    if rows > 7 { addRow(c70, c71, to: c + 7 * ldc, columns: columns, overwrite: overwrite) }
}

/// c[0..<columns] += (lo ++ hi)[0..<columns], or = with `overwrite`.
@inline(__always)
private func addRow(_ lo: SIMD16<Float>, _ hi: SIMD16<Float>, to c: UnsafeMutablePointer<Float>,
                    columns: Int, overwrite: Bool) {
    let raw = UnsafeMutableRawPointer(c)
    if columns == panelWidth {
        let (old0, old1) = overwrite ? (SIMD16<Float>(), SIMD16<Float>())
            : (raw.loadUnaligned(as: SIMD16<Float>.self), raw.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self))
        raw.storeBytes(of: old0 + lo, as: SIMD16<Float>.self)
        raw.storeBytes(of: old1 + hi, toByteOffset: 64, as: SIMD16<Float>.self)
    } else {
        for j in 0..<min(columns, 16) { c[j] = (overwrite ? 0 : c[j]) + lo[j] }
        if columns > 16 { for j in 16..<columns { c[j] = (overwrite ? 0 : c[j]) + hi[j - 16] } }
    }
}
