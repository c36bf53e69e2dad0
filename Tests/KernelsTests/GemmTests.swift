import XCTest
import Kernels
import TestSupport

/// The packed SIMD Float GEMM against its naive twin, on odd shapes, every transpose form and
/// 1…4 threads (products this small run on one; larger ones below are split). Widths 48 and 64
/// read an untransposed B in place (48 ends in a 16-wide panel).
final class GemmTests: XCTestCase {
    let sizes = [1, 7, 17, 48, 64, 65, 129]

    func testFastFloatGemmMatchesNaiveTwinOnOddShapes() {
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
                         transposeB: transposeB, c: &fast, ldc: n, accumulate: accumulate, threads: threads)
                    naiveGemm(m: m, n: n, k: k, a: a.map(Double.init), lda: lda, transposeA: transposeA,
                              b: b.map(Double.init), ldb: ldb, transposeB: transposeB, c: &naive, ldc: n,
                              accumulate: accumulate)
                    // Float sums of k products of numbers in ±1: absolute error ~ √k · 6e-8.
                    let tolerance = 1e-5 * Double(k).squareRoot() + 1e-6
                    for i in 0..<(m * n) where abs(Double(fast[i]) - naive[i]) > tolerance {
                        XCTFail("m \(m) n \(n) k \(k) tA \(transposeA) tB \(transposeB) acc \(accumulate) threads \(threads): C[\(i)] = \(fast[i]), naive \(naive[i])")
                        return
                    }
                }
            }
        } } }
    }

    /// Products below `minimumFMAsPerThread` run on one thread whatever `threads` says; these
    /// are large enough to be split: by panels (65 rows, the output weight gradient's shape)
    /// and by rows.
    func testProductsLargeEnoughToSplitMatchNaiveTwin() {
        var random = TestRandom(seed: 11)
        for (m, n, k, transposeA, transposeB) in [(65, 512, 300, true, false), (300, 129, 300, false, true),
                                                  (257, 48, 700, false, false)] {
            XCTAssertGreaterThanOrEqual(m * n * k, 2 * (1 << 22), "shape too small to be split")
            for threads in [2, 3] {
                let a = random.uniform(m * k).map(Float.init)
                let b = random.uniform(k * n).map(Float.init)
                var fast = [Float](repeating: 0, count: m * n)
                var naive = [Double](repeating: 0, count: m * n)
                let lda = transposeA ? m : k, ldb = transposeB ? k : n
                gemm(m: m, n: n, k: k, a: a, lda: lda, transposeA: transposeA, b: b, ldb: ldb, transposeB: transposeB,
                     c: &fast, ldc: n, accumulate: false, threads: threads)
                naiveGemm(m: m, n: n, k: k, a: a.map(Double.init), lda: lda, transposeA: transposeA,
                          b: b.map(Double.init), ldb: ldb, transposeB: transposeB, c: &naive, ldc: n, accumulate: false)
                let worst = zip(fast, naive).map { abs(Double($0) - $1) }.max() ?? 0
                XCTAssertLessThan(worst, 1e-5 * Double(k).squareRoot(), "m \(m) n \(n) k \(k) threads \(threads)")
            }
        }
    }

    func testPrepackedOperandMatchesNaiveTwinAndCanBeRepacked() {
        var random = TestRandom(seed: 9)
        let packed = PackedMatrix<Float>()
        for (m, n, k) in [(7, 65, 300), (17, 129, 65), (1, 1, 1), (64, 64, 64)] {
            for transposeB in [false, true] {
                let a = random.uniform(m * k).map(Float.init)
                let b = random.uniform(k * n).map(Float.init)
                packed.pack(b, ldb: transposeB ? k : n, transposed: transposeB, k: k, n: n)
                var fast = [Float](repeating: 0, count: m * n)
                var naive = [Double](repeating: 0, count: m * n)
                gemm(m: m, a: a, lda: k, packed: packed, c: &fast, ldc: n, accumulate: false, threads: 3)
                naiveGemm(m: m, n: n, k: k, a: a.map(Double.init), lda: k, b: b.map(Double.init),
                          ldb: transposeB ? k : n, transposeB: transposeB, c: &naive, ldc: n, accumulate: false)
                for i in 0..<(m * n) {
                    XCTAssertEqual(Double(fast[i]), naive[i], accuracy: 1e-5 * Double(k).squareRoot(),
                                   "m \(m) n \(n) k \(k) tB \(transposeB) at \(i)")
                }
            }
        }
    }

    func testLeadingDimensionsLargerThanTheMatrixAreRespected() {
        // A 3×2 block inside a 3×5 buffer times a 2×4 block inside a 2×6 buffer, into 3×4 of 3×7.
        let a: [Float] = [1, 2, 9, 9, 9, 3, 4, 9, 9, 9, 5, 6, 9, 9, 9]
        let b: [Float] = [1, 0, 2, 0, 9, 9, 0, 1, 0, 2, 9, 9]
        var c = [Float](repeating: -1, count: 21)
        gemm(m: 3, n: 4, k: 2, a: a, lda: 5, b: b, ldb: 6, c: &c, ldc: 7, accumulate: false, threads: 2)
        XCTAssertEqual(Array(c[0..<4]), [1, 2, 2, 4])
        XCTAssertEqual(Array(c[7..<11]), [3, 4, 6, 8])
        XCTAssertEqual(Array(c[14..<18]), [5, 6, 10, 12])
        XCTAssertEqual(c[4], -1, "columns past n must be untouched")
    }
}
