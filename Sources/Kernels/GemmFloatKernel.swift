/// The fast Float product behind `gemm`.
///
/// op(B) is packed into panels of 32 columns that are contiguous over k (zero-padded at the
/// right edge), one k-block of `kBlock` rows after another. A is read in place, one element at a time
/// and broadcast, through a (row stride, k stride) pair, so a transposed A costs nothing. The
/// micro-kernel keeps an 8×32 block of C in sixteen `SIMD16<Float>` accumulators (FMA on AVX-512
/// when built for the host CPU; see Package.swift). Threads take disjoint blocks of C's rows and
/// share the packed B, read-only.

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
    let packed = UnsafeMutablePointer<Float>.allocate(capacity: max(1, k * panelCount(n) * panelWidth))
    defer { packed.deallocate() }
    packPanels(b, ldb: ldb, transposed: transposeB, k: k, n: n, into: packed)
    packedFloatGemm(m: m, n: n, k: k, a: a, lda: lda, transposeA: transposeA, packed: packed,
                    c: c, ldc: ldc, accumulate: accumulate, threads: threads)
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
    if !accumulate && k == 0 {
        for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) }
    }
    guard m > 0, n > 0, k > 0 else { return }
    let panels = panelCount(n)
    let aRowStride = transposeA ? 1 : lda
    let aKStride = transposeA ? lda : 1
    let shared = (a: SendableConstPointer(a), b: SendableConstPointer(packed), c: SendablePointer(c))
    parallelFor(m, threads: threads, grain: microRows) { rows in
        var k0 = 0
        while k0 < k {
            let kc = min(kBlock, k - k0)
            let block = shared.b.base + k0 * panels * panelWidth
            // Panel by panel: one kc×32 panel of B (32 KB) stays in L1 while every row block of
            // this thread passes over it; A streams from L2, a few scalars per FMA row.
            for p in 0..<panels {
                var i = rows.lowerBound
                while i < rows.upperBound {
                    let mr = min(microRows, rows.upperBound - i)
                    microKernel(kc: kc, a: shared.a.base + i * aRowStride + k0 * aKStride, rowStride: aRowStride,
                                kStride: aKStride, rows: mr, packedB: block + p * kc * panelWidth,
                                c: shared.c.base + i * ldc + p * panelWidth, ldc: ldc,
                                columns: min(panelWidth, n - p * panelWidth), overwrite: k0 == 0 && !accumulate)
                    i += mr
                }
            }
            k0 += kc
        }
    }
}

/// Packs op(B) (k×n) for the micro-kernel: k-block by k-block (`kBlock` rows each), each block
/// as panels of 32 columns holding kc rows of 32 floats, zero-padded past column n.
func packPanels(_ b: UnsafePointer<Float>, ldb: Int, transposed: Bool, k: Int, n: Int,
                into packed: UnsafeMutablePointer<Float>) {
    let panels = panelCount(n)
    var k0 = 0
    while k0 < k {
        let kc = min(kBlock, k - k0)
        let block = packed + k0 * panels * panelWidth
        for p in 0..<panels {
            let j0 = p * panelWidth
            let width = min(panelWidth, n - j0)
            let panel = block + p * kc * panelWidth
            for kk in 0..<kc {
                let dst = panel + kk * panelWidth
                if transposed {
                    let src = b + j0 * ldb + (k0 + kk)
                    for j in 0..<width { dst[j] = src[j * ldb] }
                } else {
                    dst.update(from: b + (k0 + kk) * ldb + j0, count: width)
                }
                if width < panelWidth { (dst + width).update(repeating: 0, count: panelWidth - width) }
            }
        }
        k0 += kc
    }
}

/// C[0..<rows, 0..<columns] += A[0..<rows, 0..<kc] · packedB (kc×32) — or = with `overwrite`
/// (the first k-block of a product that does not accumulate, which saves zeroing C first) —
/// for up to 8 rows held in sixteen `SIMD16<Float>` accumulators. Rows past `rows` repeat row 0
/// (their results are dropped), so one register schedule serves every tail.
@inline(__always)
private func microKernel(kc: Int, a: UnsafePointer<Float>, rowStride: Int, kStride: Int, rows: Int,
                         packedB: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
                         columns: Int, overwrite: Bool) {
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
    let bRaw = UnsafeRawPointer(packedB)
    var offset = 0
    for p in 0..<kc {
        let b0 = bRaw.loadUnaligned(fromByteOffset: p &* 128, as: SIMD16<Float>.self)
        let b1 = bRaw.loadUnaligned(fromByteOffset: p &* 128 &+ 64, as: SIMD16<Float>.self)
        let x0 = a0[offset], x1 = a1[offset], x2 = a2[offset], x3 = a3[offset]
        c00.addProduct(x0, b0); c01.addProduct(x0, b1)
        c10.addProduct(x1, b0); c11.addProduct(x1, b1)
        c20.addProduct(x2, b0); c21.addProduct(x2, b1)
        c30.addProduct(x3, b0); c31.addProduct(x3, b1)
        let x4 = a4[offset], x5 = a5[offset], x6 = a6[offset], x7 = a7[offset]
        c40.addProduct(x4, b0); c41.addProduct(x4, b1)
        c50.addProduct(x5, b0); c51.addProduct(x5, b1)
        c60.addProduct(x6, b0); c61.addProduct(x6, b1)
        c70.addProduct(x7, b0); c71.addProduct(x7, b1)
        offset &+= kStride
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
