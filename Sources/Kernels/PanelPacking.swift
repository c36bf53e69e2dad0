/// Copying op(B) into the micro-kernel's panels (`packPanels` for a whole operand, `packBlock`
/// for one k-block of it) and the short row copy that packing B and A (`PanelProduct.packA`)
/// are made of. The layout is described in `GemmFloatKernel.swift`.

/// Packs op(B) (k×n) for `path`'s micro-kernel: k-block by k-block (`kBlockRows` rows each),
/// each block as panels of `panelWidth` columns holding kc rows each, zero-padded past column n.
/// Threads take disjoint ranges of k-blocks.
func packPanels(_ b: UnsafePointer<Float>, ldb: Int, transposed: Bool, k: Int, n: Int, kBlockRows: Int,
                into packed: UnsafeMutablePointer<Float>, threads: Int, path: KernelPath) {
    let width = path.panelWidth
    let panels = (n + width - 1) / width
    let (source, destination) = (SendableConstPointer(b), SendablePointer(packed))
    parallelFor(k, threads: threads, grain: kBlockRows) { range in
        var k0 = range.lowerBound
        while k0 < range.upperBound {
            let kc = min(kBlockRows, k - k0)
            packBlock(source.base, ldb: ldb, transposed: transposed, n: n, k0: k0, kc: kc, panels: 0..<panels,
                      width: width, into: destination.base + k0 * panels * width, panelStride: kc * width)
            k0 += kc
        }
    }
}

/// Packs rows k0 ..< k0 + kc of op(B) (k×n), the columns of `panels` (of `width` each), into
/// `block`: panel p's kc rows contiguous at (p − panels.lowerBound)·`panelStride` (at least
/// kc·width), zero-padded past column n.
@inline(__always)
func packBlock(_ b: UnsafePointer<Float>, ldb: Int, transposed: Bool, n: Int, k0: Int, kc: Int, panels: Range<Int>,
               width: Int, into block: UnsafeMutablePointer<Float>, panelStride: Int) {
    if transposed {
        for p in panels {
            let j0 = p * width
            let columns = min(width, n - j0)
            for kk in 0..<kc {
                let dst = block + (p - panels.lowerBound) * panelStride + kk * width
                let src = b + j0 * ldb + (k0 + kk)
                for j in 0..<columns { dst[j] = src[j * ldb] }
                if columns < width { (dst + columns).update(repeating: 0, count: width - columns) }
            }
        }
    } else {
        // Row by row, so that each row of B is read front to back: panel by panel, the reads
        // went down a column band, a stored row (2 KB for H 512) per k, and every row or two
        // started a page the hardware prefetchers had not.
        for kk in 0..<kc {
            let src = b + (k0 + kk) * ldb
            for p in panels {
                let j0 = p * width
                let columns = min(width, n - j0)
                let dst = block + (p - panels.lowerBound) * panelStride + kk * width
                if columns == width {
                    copyShortRow(from: src + j0, to: dst, count: width)
                } else {
                    dst.update(from: src + j0, count: columns)
                    (dst + columns).update(repeating: 0, count: width - columns)
                }
            }
        }
    }
}

/// Copies `count` consecutive floats, a row of a packed tile or panel: the tiles' widths (32,
/// 16, 8, 6, 4) as whole registers. `update(from:count:)` is a memmove call, which for 64 bytes
/// costs more than the copy (8 % of a dWh product on the AVX2 tile, one call per panel row of
/// B), and a loop over a tile's 8 rows of A compiled to two 16-byte moves and its control (40 %
/// of `packA` in model A's dWh, 64 rows).
@inline(__always)
func copyShortRow(from source: UnsafePointer<Float>, to target: UnsafeMutablePointer<Float>, count: Int) {
    let (from, to) = (UnsafeRawPointer(source), UnsafeMutableRawPointer(target))
    @inline(__always) func move<V: SIMD>(_: V.Type, byteOffset: Int) where V.Scalar == Float {
        to.storeBytes(of: from.loadUnaligned(fromByteOffset: byteOffset, as: V.self), toByteOffset: byteOffset, as: V.self)
    }
    switch count {
    case 32:
        move(SIMD16<Float>.self, byteOffset: 0)
        move(SIMD16<Float>.self, byteOffset: 64)
    case 16: move(SIMD16<Float>.self, byteOffset: 0)
    case 8: move(SIMD8<Float>.self, byteOffset: 0)
    case 6:
        move(SIMD4<Float>.self, byteOffset: 0)
        move(SIMD2<Float>.self, byteOffset: 16)
    case 4: move(SIMD4<Float>.self, byteOffset: 0)
    default: for j in 0..<count { target[j] = source[j] }
    }
}
