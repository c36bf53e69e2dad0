import XCTest
@testable import Kernels
import TestSupport

/// The packed SIMD Float GEMM against its naive twin, on every kernel path this build and CPU
/// can run (`KernelPath.runnable`: avx512, avx2 and generic on an AVX-512 host built for it),
/// each called directly: odd shapes, every transpose form, accumulate or not, and 1…4 threads
/// (products this small run on one; larger ones below are split). Widths 48 and 64 read an
/// untransposed B in place (48 ends in a narrower panel on every tile); 7, 17 and 65 end in
/// partial vectors, and 1, 7, 65 and 129 (and 17 on the narrower tiles) in a panel narrower than
/// one vector, which runs as dot products under an untransposed A (`DotEdge`), k tails and all
/// (k 1, 7, 65; 300 spans two k-blocks); 1, 7 and 17 rows leave row tails on every tile.
final class GemmTests: XCTestCase {
    let sizes = [1, 7, 17, 48, 64, 65, 129]

    func testEveryRunnablePathIsTested() {
        let runnable = KernelPath.runnable
        XCTAssertTrue(runnable.contains(.generic))
        XCTAssertTrue(runnable.contains(KernelPath.current), "the chosen path must be one the machine runs")
        #if arch(x86_64)
        if KernelPath.avx2.isBuilt { XCTAssertTrue(runnable.contains(.avx2)) }
        #endif
        print("kernel paths tested: \(runnable.map(\.rawValue).joined(separator: ", ")); \(try! KernelPath.selection.get().description)")
    }

    func testFastFloatGemmMatchesNaiveTwinOnOddShapes() {
        for path in KernelPath.runnable { checkOddShapes(path: path) }
    }

    func checkOddShapes(path: KernelPath) {
        var random = TestRandom(seed: 7)
        for m in sizes { for n in sizes { for k in [1, 7, 65, 300] {
            for (transposeA, transposeB) in [(false, false), (true, false), (false, true)] {
                for accumulate in [false, true] {
                    let threads = 1 + (m + n + k) % 4
                    let a = random.uniform(m * k).map(Float.init)
                    let b = random.uniform(k * n).map(Float.init)
                    let c0 = random.uniform(m * n).map(Float.init)
                    var fast = c0, naive = c0.map(Double.init)
                    let lda = transposeA ? m : k, ldb = transposeB ? k : n
                    gemm(m: m, n: n, k: k, a: a, lda: lda, transposeA: transposeA, b: b, ldb: ldb,
                         transposeB: transposeB, c: &fast, ldc: n, accumulate: accumulate, threads: threads, path: path)
                    naiveGemm(m: m, n: n, k: k, a: a.map(Double.init), lda: lda, transposeA: transposeA,
                              b: b.map(Double.init), ldb: ldb, transposeB: transposeB, c: &naive, ldc: n,
                              accumulate: accumulate)
                    // Float sums of k products of numbers in ±1: absolute error ~ √k · 6e-8.
                    let tolerance = 1e-5 * Double(k).squareRoot() + 1e-6
                    for i in 0..<(m * n) where abs(Double(fast[i]) - naive[i]) > tolerance {
                        XCTFail("\(path): m \(m) n \(n) k \(k) tA \(transposeA) tB \(transposeB) acc \(accumulate) threads \(threads): C[\(i)] = \(fast[i]), naive \(naive[i])")
                        return
                    }
                }
            }
        } } }
    }

    /// Products below `minimumFMAsPerThread` run on one thread whatever `threads` says; these
    /// are large enough to be split: by panels (65 rows, the output weight gradient's shape)
    /// and by rows. The 130-row ones have more rows than B is read in place under, so each
    /// thread packs its own panels of B (`BLayout.packedPerBlock`), split by panels on some of
    /// the paths and thread counts: panels that do not start at the first. A transposed B is
    /// packed in 512-row k-blocks (`BLayout.kBlockRows`), so k 1100 takes it through three.
    func testProductsLargeEnoughToSplitMatchNaiveTwin() {
        var random = TestRandom(seed: 11)
        for path in KernelPath.runnable {
        for (m, n, k, transposeA, transposeB) in [(65, 512, 300, true, false), (300, 129, 300, false, true),
                                                  (257, 48, 700, false, false), (130, 512, 300, true, false),
                                                  (130, 200, 400, false, true), (65, 129, 1100, false, true)] {
            XCTAssertGreaterThanOrEqual(m * n * k, 2 * (1 << 22), "shape too small to be split")
            for threads in [1, 2, 3, 4] {   // 1: chunks of rows of uneven tiles
                let a = random.uniform(m * k).map(Float.init)
                let b = random.uniform(k * n).map(Float.init)
                var fast = [Float](repeating: 0, count: m * n)
                var naive = [Double](repeating: 0, count: m * n)
                let lda = transposeA ? m : k, ldb = transposeB ? k : n
                gemm(m: m, n: n, k: k, a: a, lda: lda, transposeA: transposeA, b: b, ldb: ldb, transposeB: transposeB,
                     c: &fast, ldc: n, accumulate: false, threads: threads, path: path)
                naiveGemm(m: m, n: n, k: k, a: a.map(Double.init), lda: lda, transposeA: transposeA,
                          b: b.map(Double.init), ldb: ldb, transposeB: transposeB, c: &naive, ldc: n, accumulate: false)
                let worst = zip(fast, naive).map { abs(Double($0) - $1) }.max() ?? 0
                XCTAssertLessThan(worst, 1e-5 * Double(k).squareRoot(), "\(path): m \(m) n \(n) k \(k) threads \(threads)")
            }
        }
        }
    }

    /// A thread's rows go through the panels in chunks (`rowChunks`, cut as `partRange` cuts):
    /// one up to 128 rows, which the in-place B and the training's dWh blocks rely on; past
    /// that, whole tiles of at most 96 rows each, in as few chunks as that allows.
    func testRowChunksAreWholeTilesOfAtMost96RowsPast128() {
        for tileRows in [4, 6, 8] {
            for rows in 1...2_000 {
                let chunks = rowChunks(rows)
                if rows <= 128 { XCTAssertEqual(chunks, 1); continue }
                XCTAssertEqual(chunks, (rows + 95) / 96, "rows \(rows)")
                let parts = (0..<chunks).map { partRange($0, of: rows, parts: chunks, grain: tileRows) }
                XCTAssertEqual(parts.first?.lowerBound, 0)
                XCTAssertEqual(parts.last?.upperBound, rows)
                for (part, next) in zip(parts, parts.dropFirst()) { XCTAssertEqual(part.upperBound, next.lowerBound) }
                for part in parts.dropLast() { XCTAssertEqual(part.count % tileRows, 0, "rows \(rows), tile \(tileRows)") }
                XCTAssertLessThanOrEqual(parts.map(\.count).max()!, 96, "rows \(rows), tile \(tileRows)")
                XCTAssertLessThanOrEqual(parts.map(\.count).max()! - parts.map(\.count).min()!, tileRows,
                                         "rows \(rows), tile \(tileRows): uneven chunks")
            }
        }
    }

    /// Packed panels, and the allocation behind the model's buffers (`FlatBuffer`), start on a
    /// cache line at every size, the large ones included (which glibc would place 16 bytes into
    /// one): a 64-byte panel row then never straddles two lines.
    func testOperandStorageIsCacheLineAligned() {
        for count in [1, 17, 4_096, 40_000, 1 << 20] {
            let buffer = UnsafeMutablePointer<Float>.allocateCacheAligned(capacity: count)
            XCTAssertEqual(Int(bitPattern: buffer) % 64, 0, "\(count) floats")
            buffer.deallocate()
        }
        for (k, n) in [(3, 5), (512, 512), (3200, 512)] {
            let source = [Float](repeating: 1, count: k * n)
            let packed = PackedMatrix<Float>()
            packed.pack(source, ldb: n, transposed: false, k: k, n: n)
            XCTAssertEqual(Int(bitPattern: packed.storage) % 64, 0, "packed \(k)×\(n)")
        }
    }

    /// Shapes past one k-block and ending inside one, in the default k-blocks and a recurrent
    /// weight's (`recurrentKBlock`), and an A read transposed (dWh's blocks multiply a transposed
    /// A by the packed states).
    func testPrepackedOperandMatchesNaiveTwinAndCanBeRepacked() {
        var random = TestRandom(seed: 9)
        let packed = PackedMatrix<Float>()
        for path in KernelPath.runnable + KernelPath.runnable.reversed() {   // repacked for another tile
        for (m, n, k) in [(7, 65, 300), (17, 129, 65), (1, 1, 1), (64, 64, 64), (9, 33, 1100), (133, 40, 600)] {
            for (transposeA, transposeB) in [(false, false), (false, true), (true, false)] {
            for kBlockRows in [kBlock, recurrentKBlock] {
                let a = random.uniform(m * k).map(Float.init)
                let b = random.uniform(k * n).map(Float.init)
                let lda = transposeA ? m : k
                packed.pack(b, ldb: transposeB ? k : n, transposed: transposeB, k: k, n: n, path: path,
                            kBlockRows: kBlockRows)
                XCTAssertEqual(packed.path, path)
                var fast = [Float](repeating: 0, count: m * n)
                var naive = [Double](repeating: 0, count: m * n)
                gemm(m: m, a: a, lda: lda, transposeA: transposeA, packed: packed, c: &fast, ldc: n, accumulate: false,
                     threads: 3)
                naiveGemm(m: m, n: n, k: k, a: a.map(Double.init), lda: lda, transposeA: transposeA, b: b.map(Double.init),
                          ldb: transposeB ? k : n, transposeB: transposeB, c: &naive, ldc: n, accumulate: false)
                for i in 0..<(m * n) {
                    XCTAssertEqual(Double(fast[i]), naive[i], accuracy: 1e-5 * Double(k).squareRoot(),
                                   "\(path): m \(m) n \(n) k \(k) tA \(transposeA) tB \(transposeB) kc \(kBlockRows) at \(i)")
                }
            }
            }
        }
        }
    }

    func testLeadingDimensionsLargerThanTheMatrixAreRespected() {
        // A 3×2 block inside a 3×5 buffer times a 2×4 block inside a 2×6 buffer, into 3×4 of 3×7.
        let a: [Float] = [1, 2, 9, 9, 9, 3, 4, 9, 9, 9, 5, 6, 9, 9, 9]
        let b: [Float] = [1, 0, 2, 0, 9, 9, 0, 1, 0, 2, 9, 9]
        for path in KernelPath.runnable {
            var c = [Float](repeating: -1, count: 21)
            gemm(m: 3, n: 4, k: 2, a: a, lda: 5, b: b, ldb: 6, c: &c, ldc: 7, accumulate: false, threads: 2, path: path)
            XCTAssertEqual(Array(c[0..<4]), [1, 2, 2, 4], "\(path)")
            XCTAssertEqual(Array(c[7..<11]), [3, 4, 6, 8], "\(path)")
            XCTAssertEqual(Array(c[14..<18]), [5, 6, 10, 12], "\(path)")
            XCTAssertEqual(c[4], -1, "\(path): columns past n must be untouched")
        }
    }

    /// A row of C comes out the same to the bit whichever tile computes it — a whole one, a tail,
    /// or one of the two even tiles a short tail is shared into (`MicroTile.tileRows`) — since
    /// each element sums its k in the same order: the product of 32 rows (6 + 6 + 6 + 6 + 4 + 4 on
    /// the AVX2 tile), of 9 rows (5 + 4), against each row alone. Splitting rows between threads,
    /// and dWh into blocks, rely on it.
    func testEachRowIsTheSameToTheBitInAnyTile() {
        var random = TestRandom(seed: 13)
        let (n, k) = (48, 600)   // past one k-block of each layout
        let b = random.uniform(k * n).map(Float.init)
        for path in KernelPath.runnable {
            let packed = PackedMatrix<Float>()
            packed.pack(b, ldb: n, transposed: false, k: k, n: n, path: path, kBlockRows: recurrentKBlock)
            for rows in [32, 9, 7] {
                let a = random.uniform(rows * k).map(Float.init)
                var together = [Float](repeating: 0.25, count: rows * n)
                gemm(m: rows, a: a, lda: k, packed: packed, c: &together, ldc: n, accumulate: true)
                for row in 0..<rows {
                    var alone = [Float](repeating: 0.25, count: n)
                    a.withUnsafeBufferPointer { a in
                        gemm(m: 1, a: a.baseAddress! + row * k, lda: k, packed: packed, c: &alone, ldc: n, accumulate: true)
                    }
                    XCTAssertEqual(Array(together[(row * n)..<((row + 1) * n)]), alone, "\(path): row \(row) of \(rows)")
                }
            }
        }
    }

    /// The model-B shapes at every split the trainer uses: each thread of the recurrence owns
    /// 64/threads rows, which leaves a row tail on the 6-row AVX2 tile (32 = 5·6 + 2).
    func testRecurrenceRowBlocksOfEveryThreadCountMatchNaiveTwin() {
        var random = TestRandom(seed: 5)
        let (n, k) = (72, 40)
        let b = random.uniform(n * k).map(Float.init)   // Wh stored (n, k): the product reads Whᵀ
        for path in KernelPath.runnable {
            let packed = PackedMatrix<Float>()
            packed.pack(b, ldb: k, transposed: true, k: k, n: n, path: path)
            for rows in [64, 32, 21, 16, 5] {
                let a = random.uniform(rows * k).map(Float.init)
                var fast = [Float](repeating: 0.5, count: rows * n)
                var naive = [Double](repeating: 0.5, count: rows * n)
                gemm(m: rows, a: a, lda: k, packed: packed, c: &fast, ldc: n, accumulate: true)
                naiveGemm(m: rows, n: n, k: k, a: a.map(Double.init), lda: k, b: b.map(Double.init), ldb: k,
                          transposeB: true, c: &naive, ldc: n, accumulate: true)
                let worst = zip(fast, naive).map { abs(Double($0) - $1) }.max() ?? 0
                XCTAssertLessThan(worst, 1e-5 * Double(k).squareRoot(), "\(path): \(rows) rows")
            }
        }
    }
}
