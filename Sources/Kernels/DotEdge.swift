/// The right-edge panel of a product whose last columns fill less than one vector — the logits
/// at V = 65 end in one column — computed as dot products along k instead of by the tile.
///
/// The tile spends `rows` FMAs per k on such a panel whatever its width, so one column cost
/// about half a full panel: at V = 65, a fifth of the logits product on the AVX-512 tile (two
/// full panels) and a tenth on the AVX2 tile (four), counted in FMAs; measured on one AVX-512
/// thread, 73–78 → 93 GFLOP/s. Along k every lane is used: C[i, j] = Σₖ A[i, k]·B[k, j]
/// as `lanes`-wide partial sums over k, added up at the end. That needs A's rows to run along
/// k (an untransposed A, read in place) and the panel's columns gathered contiguous over k
/// (`gatherColumns`), a few hundred floats per k-block.

/// Whether the right-edge panel `columns` wide is computed by `dotEdgeKernel`: narrower than one
/// vector, with A read in place along k (k stride 1).
@inline(__always)
func usesDotEdge<T: MicroTile>(_: T.Type, columns: Int, aKStride: Int) -> Bool {
    columns < T.Vector.lanes && aKStride == 1
}

/// E[j·kc + kk] = panel[kk, j] for the panel's first `columns` columns: kc rows, `strideBytes`
/// apart.
@inline(__always)
func gatherColumns(_ panel: UnsafePointer<Float>, strideBytes: Int, kc: Int, columns: Int,
                   into e: UnsafeMutablePointer<Float>) {
    let stride = strideBytes / 4
    for kk in 0..<kc {
        for j in 0..<columns { e[j * kc + kk] = panel[kk * stride + j] }
    }
}

/// C[0..<validRows, 0..<columns] (+)= A[0..<validRows, 0..<kc] · E, E (kc × columns) stored
/// column by column (`gatherColumns`), A's rows `rowStride` apart and contiguous along k; `=`
/// with `overwrite`. One column at a time, `T.rows` rows at once: each k step loads one vector
/// of E and one of each row of A for `T.rows` FMAs, all lanes useful. Rows from `validRows` on
/// repeat row 0 and are not stored, as in `microKernel`.
@inline(__always)
func dotEdgeKernel<T: MicroTile>(
    _: T.Type, kc: Int, a: UnsafePointer<Float>, rowStride: Int, validRows: Int,
    e: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int, columns: Int, overwrite: Bool
) {
    typealias V = T.Vector
    let vectorBytes = (kc - kc % V.lanes) * 4
    var row = InlineArray<8, UnsafeRawPointer>(repeating: UnsafeRawPointer(a))
    for r in 0..<T.rows where r < validRows { row[r] = UnsafeRawPointer(a + r * rowStride) }
    for j in 0..<columns {
        let column = UnsafeRawPointer(e + j * kc)
        var sum = InlineArray<8, V>(repeating: .zero)
        var byteOffset = 0
        while byteOffset < vectorBytes {
            let b = V.load(column, byteOffset: byteOffset)
            for r in 0..<T.rows { sum[r].accumulate(V.load(row[r], byteOffset: byteOffset), times: b) }
            byteOffset &+= V.lanes * 4
        }
        for r in 0..<validRows {
            var total = sum[r].laneSum
            for kk in (vectorBytes / 4)..<kc { total += a[r * rowStride + kk] * e[j * kc + kk] }
            let target = c + r * ldc + j
            target.pointee = overwrite ? total : target.pointee + total
        }
    }
}
