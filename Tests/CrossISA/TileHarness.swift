/// The register tile of one ISA, built for its own target: `Tests/CrossISA/check.sh` compiles
/// this file with the Float product's sources (`GemmFloatKernel` and what it needs: its
/// packing, the tile, the micro-kernel, the dot-product edge, the vector type; and exp) as
/// Embedded Swift, which needs no Swift runtime for the target, links it statically and runs
/// it: under qemu-user for AArch64, natively for the x86 tiles. On x86 machines that is the only way the AArch64
/// path (`NEONTile`, 12-column panels) is compiled and run at all.
///
/// It runs the micro-kernel exactly as `PanelProduct.multiply` calls it (every row count and
/// panel width of the tile, A in place and packed, C overwritten and accumulated), the whole
/// product on the tile's path (every layout of B, transposes, chunks, k-blocks, edges and
/// splits into parts), the dot-product edge, the vector operations of the elementwise kernels
/// and `vectorExp`, each against a plain reference, and prints one line per check. It exits 1
/// on the first failure.

#if TILE_OVERSIZED
/// A control that must spill: 8 rows × 2 vectors of `SIMD16` want 16 × 4 = 64 q registers of
/// accumulators on AArch64, which has 32 (CrossISATileTests checks that the spills are seen).
enum OversizedTile: MicroTile {
    typealias Vector = SIMD16<Float>
    static var rows: Int { 8 }
    static var vectors: Int { 2 }
}
typealias Tile = OversizedTile
let (tileName, path) = ("OversizedTile", KernelPath.generic)
#elseif arch(arm64)
typealias Tile = NEONTile
let (tileName, path) = ("NEONTile", KernelPath.neon)
#elseif TILE_AVX512
typealias Tile = AVX512Tile
let (tileName, path) = ("AVX512Tile", KernelPath.avx512)
#elseif TILE_AVX2
typealias Tile = AVX2Tile
let (tileName, path) = ("AVX2Tile", KernelPath.avx2)
#else
typealias Tile = GenericTile
let (tileName, path) = ("GenericTile", KernelPath.generic)
#endif

@_extern(c, "exit") func exitProcess(_ status: Int32)
@_extern(c, "expf") func expf(_ x: Float) -> Float

/// The micro-kernel as the product calls it (`runMicroKernel`, with the tile's row count and
/// width known only at run time), out of line under a name of its own: CrossISATileTests reads
/// the k loops of this function and of the instantiations it calls in the disassembly.
@_silgen_name("rnn_dist_tile_kernel")
@inline(never)
public func tileKernel(kc: Int, a: UnsafePointer<Float>, rowStride: Int, kStride: Int, validRows: Int,
                       b: UnsafePointer<Float>, bStrideBytes: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                       columns: Int, overwrite: Bool) {
    runMicroKernel(Tile.self, kc: kc, a: a, rowStride: rowStride, kStride: kStride, validRows: validRows, b: b,
                   bStrideBytes: bStrideBytes, c: c, ldc: ldc, columns: columns, overwrite: overwrite)
}

/// `parallelFor` without threads: its parts one after another, in order. The real one runs on
/// `WorkerPool` (Dispatch, which Embedded Swift lacks); what the harness checks is how the
/// product splits its work into parts, which this runs unchanged.
func parallelFor(_ count: Int, threads: Int, grain: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
    for range in partition(count, parts: threads, grain: grain) { body(range) }
}

/// Deterministic values in [-1, 1): a 32-bit linear congruential generator.
struct Values {
    var state: UInt32 = 12_345
    mutating func next() -> Float {
        state = state &* 1_664_525 &+ 1_013_904_223
        return Float(state >> 8) / Float(1 << 23) - 1
    }
}

/// Prints what failed and exits 1.
func fail(_ message: String) -> Never {
    print(message)
    exitProcess(1)
    fatalError()
}

/// `count` floats from `values`, in memory the caller deallocates.
func filled(_ count: Int, _ values: inout Values) -> UnsafeMutablePointer<Float> {
    let floats = UnsafeMutablePointer<Float>.allocate(capacity: count)
    for i in 0..<count { floats[i] = values.next() }
    return floats
}

/// Whether C (`rows` rows of `ldc` floats, `before` a copy of them from before the product)
/// holds the product where `written(i, j)` and is unchanged everywhere else, which the kernel
/// must not write: C[i, j] = (C's old value if `adds`) + Σₚ term(i, j, p) over p < k, to within
/// 1e-5 of 1 + Σ|term| (the kernels' FMAs and the Double reference round differently).
func matchesReference(_ c: UnsafePointer<Float>, before: UnsafePointer<Float>, rows: Int, ldc: Int, k: Int,
                      adds: Bool, written: (Int, Int) -> Bool, term: (Int, Int, Int) -> Double) -> Bool {
    for i in 0..<rows {
        for j in 0..<ldc {
            let (got, old) = (c[i * ldc + j], before[i * ldc + j])
            guard written(i, j) else {
                if got != old { return false }
                continue
            }
            var (sum, magnitude) = (adds ? Double(old) : 0, 1.0)
            for p in 0..<k {
                let product = term(i, j, p)
                sum += product
                magnitude += abs(product)
            }
            if abs(Double(got) - sum) > 1e-5 * magnitude { return false }
        }
    }
    return true
}

/// A copy of `count` floats, in memory the caller deallocates.
func copied(_ source: UnsafePointer<Float>, count: Int) -> UnsafeMutablePointer<Float> {
    let copy = UnsafeMutablePointer<Float>.allocate(capacity: count)
    copy.update(from: source, count: count)
    return copy
}

/// C[0..<rows, 0..<columns] (+)= A·B through the micro-kernel, with A in place or packed.
func checkTile(kc: Int, rows: Int, columns: Int, packedA: Bool, overwrite: Bool, values: inout Values) -> Bool {
    let (lda, ldb, ldc, cRows) = (kc + 3, Tile.columns + 4, Tile.columns + 5, Tile.rows + 1)
    let (a, b, c) = (filled(Tile.rows * lda, &values), filled(kc * ldb, &values), filled(cRows * ldc, &values))
    let before = copied(c, count: cRows * ldc)
    defer { a.deallocate(); b.deallocate(); c.deallocate(); before.deallocate() }
    // A in place: row r at r·lda, k contiguous. Packed (`PanelProduct.packA`'s tiles): row
    // stride 1, k stride `Tile.rows`.
    tileKernel(kc: kc, a: a, rowStride: packedA ? 1 : lda, kStride: packedA ? Tile.rows : 1, validRows: rows,
               b: b, bStrideBytes: ldb * 4, c: c, ldc: ldc, columns: columns, overwrite: overwrite)
    return matchesReference(c, before: before, rows: cRows, ldc: ldc, k: kc, adds: !overwrite,
                            written: { $0 < rows && $1 < columns }) { r, j, p in
        Double(packedA ? a[p * Tile.rows + r] : a[r * lda + p]) * Double(b[p * ldb + j])
    }
}

/// The right-edge panel narrower than one vector, as dot products along k (`dotEdgeKernel`).
func checkDotEdge(kc: Int, rows: Int, columns: Int, values: inout Values) -> Bool {
    let (lda, ldc) = (kc + 1, columns + 2)
    let (a, e, c) = (filled(Tile.rows * lda, &values), filled(kc * columns, &values), filled(Tile.rows * ldc, &values))
    let before = copied(c, count: Tile.rows * ldc)
    defer { a.deallocate(); e.deallocate(); c.deallocate(); before.deallocate() }
    dotEdgeKernel(Tile.self, kc: kc, a: a, rowStride: lda, validRows: rows, e: e, c: c, ldc: ldc, columns: columns,
                  overwrite: false)
    return matchesReference(c, before: before, rows: Tile.rows, ldc: ldc, k: kc, adds: true,
                            written: { $0 < rows && $1 < columns }) { r, j, p in
        Double(a[r * lda + p]) * Double(e[j * kc + p])
    }
}

/// The whole product on the tile's path (`fastFloatGemm`, which `gemm` runs for Float, or
/// `packPanels` and `packedFloatGemm`, as a `PackedMatrix` does, with `recurrentKBlock`-row
/// k-blocks), C (m×n) (+)= op(A)·op(B); the column of C past n must stay as it was.
func checkGemm(m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool, prepacked: Bool, accumulate: Bool,
               threads: Int, values: inout Values) -> Bool {
    let (lda, ldb, ldc) = ((transposeA ? m : k) + 2, (transposeB ? k : n) + 3, n + 1)
    let a = filled((transposeA ? k : m) * lda, &values)
    let b = filled((transposeB ? n : k) * ldb, &values)
    let c = filled(m * ldc, &values)
    let before = copied(c, count: m * ldc)
    defer { a.deallocate(); b.deallocate(); c.deallocate(); before.deallocate() }
    if prepacked {
        let packed = UnsafeMutablePointer<Float>.allocateCacheAligned(capacity: packedSize(k: k, n: n, path: path))
        defer { packed.deallocate() }
        packPanels(b, ldb: ldb, transposed: transposeB, k: k, n: n, kBlockRows: recurrentKBlock, into: packed,
                   threads: threads, path: path)
        packedFloatGemm(m: m, n: n, k: k, a: a, lda: lda, transposeA: transposeA, packed: packed,
                        kBlockRows: recurrentKBlock, c: c, ldc: ldc, accumulate: accumulate, threads: threads, path: path)
    } else {
        fastFloatGemm(m: m, n: n, k: k, a: a, lda: lda, transposeA: transposeA, b: b, ldb: ldb, transposeB: transposeB,
                      c: c, ldc: ldc, accumulate: accumulate, threads: threads, path: path)
    }
    return matchesReference(c, before: before, rows: m, ldc: ldc, k: k, adds: accumulate,
                            written: { $1 < n }) { i, j, p in
        Double(transposeA ? a[p * lda + i] : a[i * lda + p]) * Double(transposeB ? b[j * ldb + p] : b[p * ldb + j])
    }
}

/// `vectorExp` over the tile's vector type against libm's expf: within 4 ulp-sized relative
/// steps (2⁻²¹) over [-87, 88].
func checkExp() -> Bool {
    var x: Float = -87
    while x < 88 {
        let arguments = (0..<Tile.Vector.lanes).map { x + Float($0) * 0.013 }
        let results = lanes(vectorExp(vector { arguments[$0] }))
        for (argument, got) in zip(arguments, results) where abs(got - expf(argument)) > expf(argument) * 4.8e-7 {
            return false
        }
        x += 0.37
    }
    return true
}

/// A vector of the tile's type with lane i = value(i), and its lanes back.
func vector(_ value: (Int) -> Float) -> Tile.Vector {
    var v = Tile.Vector(broadcast: 0)
    withUnsafeMutableBytes(of: &v) { bytes in
        for lane in 0..<Tile.Vector.lanes { bytes.storeBytes(of: value(lane), toByteOffset: lane * 4, as: Float.self) }
    }
    return v
}

func lanes(_ v: Tile.Vector) -> [Float] {
    withUnsafeBytes(of: v) { bytes in (0..<Tile.Vector.lanes).map { bytes.load(fromByteOffset: $0 * 4, as: Float.self) } }
}

/// Each `FloatVector` operation the elementwise kernels (softmax, activations, Adagrad) build
/// on, lane by lane against the scalar it stands for: the name of the first that differs.
func firstWrongVectorOperation() -> String? {
    typealias V = Tile.Vector
    let n = V.lanes
    let (x, y) = (vector { Float($0) * 0.75 - 2.1 }, vector { 1.3 - Float($0 * $0) * 0.11 })
    let (xs, ys) = (lanes(x), lanes(y))
    func same(_ v: V, _ expected: (Int) -> Float) -> Bool { lanes(v) == (0..<n).map(expected) }
    // With FMA (AArch64, the AVX2 and AVX-512 builds) a multiply-add rounds once.
    func multiplyAdd(_ a: Float, _ b: Float, _ c: Float) -> Float {
        CPUFeatures.builtWithFMA ? c.addingProduct(a, b) : c + a * b
    }
    if !same(x + y, { xs[$0] + ys[$0] }) || !same(x - y, { xs[$0] - ys[$0] }) || !same(x * y, { xs[$0] * ys[$0] })
        || !same(x / y, { xs[$0] / ys[$0] }) || !same(-x, { -xs[$0] }) { return "arithmetic" }
    var sum = y
    sum.accumulate(x, times: y)
    if !same(sum, { multiplyAdd(xs[$0], ys[$0], ys[$0]) }) { return "accumulate(_:times:) of two vectors" }
    sum = y
    sum.accumulate(0.37, times: x)
    if !same(sum, { multiplyAdd(0.37, xs[$0], ys[$0]) }) { return "accumulate(_:times:) of a scalar" }
    if !same(x.clamped(low: -1, high: 0.5), { min(max(xs[$0], -1), 0.5) }) { return "clamped" }
    if !same(x.lanewiseMax(y), { max(xs[$0], ys[$0]) }) { return "lanewiseMax" }
    for count in 0...n where !same(x.keepingFirst(count), { $0 < count ? xs[$0] : 0 }) { return "keepingFirst" }
    let magnitudes = vector { Float($0) * 1.7 + 0.2 }
    if !same(magnitudes.squareRoot, { (Float($0) * 1.7 + 0.2).squareRoot() }) { return "squareRoot" }
    let whole = vector { Float(($0 * 5) % 7) - 3 }   // small integers: every order of sums is exact
    if whole.laneSum != lanes(whole).reduce(0, +) { return "laneSum" }
    if whole.laneMax != lanes(whole).max()! { return "laneMax" }
    let shifted = vector { Float($0 - 3) + 12_582_912 }   // n + 1.5·2²³, as `vectorExp` builds it
    if !same(V.powerOfTwo(shifted: shifted), { Float(sign: .plus, exponent: $0 - 3, significand: 1) }) {
        return "powerOfTwo"
    }
    let source: [Float] = (0..<n).map { Float($0) + 0.5 }
    let partial = source.withUnsafeBytes { V.load($0.baseAddress!, count: 2, filler: 9) }
    if !same(partial, { $0 < 2 ? source[$0] : 9 }) { return "load(count:filler:)" }
    var target = [Float](repeating: -1, count: n)
    target.withUnsafeMutableBytes { x.store($0.baseAddress!, count: 3) }
    if target != (0..<n).map({ $0 < 3 ? xs[$0] : -1 }) { return "store(count:)" }
    return nil
}

@main
struct TileHarness {
    static func main() {
        var values = Values()
        var cases = 0
        for kc in [1, 5, 64, 300] {
            for rows in 1...Tile.rows {
                for columns in 1...Tile.columns {
                    for packedA in [false, true] {
                        for overwrite in [false, true] {
                            if !checkTile(kc: kc, rows: rows, columns: columns, packedA: packedA, overwrite: overwrite,
                                          values: &values) {
                                fail("micro-kernel: wrong result at kc \(kc), rows \(rows), columns \(columns), A "
                                     + (packedA ? "packed" : "in place") + (overwrite ? ", overwriting C" : ", adding to C"))
                            }
                            cases += 1
                        }
                    }
                }
            }
        }
        print("\(tileName) (\(Tile.rows) rows × \(Tile.vectors) vectors of \(Tile.Vector.lanes) floats, "
              + (CPUFeatures.builtWithFMA ? "with FMA" : "without FMA") + "): "
              + "micro-kernel matches the reference in \(cases) cases")
        var edgeCases = 0
        for kc in [1, 7, 64, 300] {
            for rows in 1...Tile.rows {
                for columns in 1..<Tile.Vector.lanes {
                    if !checkDotEdge(kc: kc, rows: rows, columns: columns, values: &values) {
                        fail("dot-product edge: wrong result at kc \(kc), rows \(rows), columns \(columns)")
                    }
                    edgeCases += 1
                }
            }
        }
        print("dot-product edge matches the reference in \(edgeCases) cases")
        // (m, n, k): B read in place (m ≤ 128, n a multiple of the vector), a right edge of one
        // column (dot products under an A in place), several chunks of rows (m > 128), k over
        // one and two k-blocks, and products large enough to be split between threads (by rows;
        // by panels when m is small), each with every transpose, C overwritten and accumulated.
        let shapes = [(64, 96, 300), (65, 65, 70), (7, 12, 513), (200, 37, 130), (130, 50, 600),
                      (300, 100, 300), (20, 600, 800)]
        var products = 0
        for (m, n, k) in shapes {
            for transposeA in [false, true] {
                for transposeB in [false, true] {
                    for (accumulate, threads) in [(false, 1), (true, 3)] {
                        if !checkGemm(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, prepacked: false,
                                      accumulate: accumulate, threads: threads, values: &values) {
                            fail("gemm: wrong result at \(m)×\(n)×\(k)" + (transposeA ? ", A transposed" : "")
                                 + (transposeB ? ", B transposed" : "") + ", \(threads) part(s)")
                        }
                        products += 1
                    }
                }
                // A packed weight, as the recurrence multiplies by (B transposed, 512-row blocks).
                if !checkGemm(m: m, n: n, k: k, transposeA: transposeA, transposeB: true, prepacked: true,
                              accumulate: true, threads: 2, values: &values) {
                    fail("gemm on a packed B: wrong result at \(m)×\(n)×\(k)" + (transposeA ? ", A transposed" : ""))
                }
                products += 1
            }
        }
        print("gemm matches the reference in \(products) products")
        if let wrong = firstWrongVectorOperation() { fail("vector operation \(wrong): wrong lanes") }
        print("vector operations match their scalars")
        if !checkExp() { fail("vectorExp: beyond 4 ulp of expf") }
        print("vectorExp within 4 ulp of expf over [-87, 88]")
    }
}
