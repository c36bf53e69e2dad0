import XCTest
import Kernels
import TestSupport

final class ElementwiseTests: XCTestCase {
    /// The nonlinearities the cells apply (`Activation` in Model calls these), at every runnable
    /// vector width, against the scalar definitions in Double; lengths leave every tail.
    let activations: [(name: String, float: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, KernelPath) -> Void,
                       reference: (Double) -> Double)] = [
        ("tanh", { applyTanh($0, into: $1, count: $2, path: $3) }, { Double.tanh($0) }),
        ("sigmoid", { applySigmoid($0, into: $1, count: $2, path: $3) }, { 1 / (1 + Double.exp(-$0)) }),
        ("relu", { x, y, n, _ in applyReLU(x, into: y, count: n) }, { max($0, 0) }),
    ]

    func testVectorActivationsMatchScalarReference() {
        for path in KernelPath.runnable {
            var random = TestRandom(seed: 3)
            for activation in activations {
                for count in [1, 7, 16, 17, 65, 129] {
                    let specials: [Float] = [0, 1e-3, -30, 30]
                    let x: [Float] = random.uniform(count, scale: 12).map(Float.init) + specials.prefix(min(4, count))
                    var y = x
                    y.withUnsafeMutableBufferPointer { activation.float($0.baseAddress!, $0.baseAddress!, $0.count, path) }
                    for i in x.indices {
                        let expected = activation.reference(Double(x[i]))
                        XCTAssertEqual(Double(y[i]), expected, accuracy: 2e-7 + 2e-7 * abs(expected),
                                       "\(path): \(activation.name)(\(x[i]))")
                    }
                }
            }
        }
    }

    /// The LSTM cell's elementwise step, forward and backward, at every runnable vector width
    /// against the same functions in Double (the scalar definitions, which the Float64
    /// gradient checks verify); H leaves every tail.
    func testLSTMCellStepMatchesTheDoubleDefinition() {
        for path in KernelPath.runnable {
            var random = TestRandom(seed: 5)
            for H in [1, 7, 16, 17, 37, 64] {
                let squash = { (x: Double) in 1 / (1 + Double.exp(-3 * x)) }
                let ifgo = random.uniform(4 * H).enumerated().map { $0.offset / H == 2 ? Double.tanh(3 * $0.element) : squash($0.element) }
                let (cPrevious, dh, dc) = (random.uniform(H, scale: 2), random.uniform(H), random.uniform(H))
                var (c, h, dcOut, dGates) = ([Double](repeating: 0, count: H), [Double](repeating: 0, count: H), dc,
                                             [Double](repeating: 0, count: 4 * H))
                lstmForward(gates: ifgo, cPrevious: cPrevious, c: &c, h: &h, hidden: H)
                lstmBackward(gates: ifgo, cPrevious: cPrevious, c: c, dh: dh, dc: &dcOut, dGates: &dGates, hidden: H)

                let float = { (x: [Double]) in x.map(Float.init) }
                var (cF, hF, dcF, dGatesF) = ([Float](repeating: 0, count: H), [Float](repeating: 0, count: H), float(dc),
                                              [Float](repeating: 0, count: 4 * H))
                lstmForward(gates: float(ifgo), cPrevious: float(cPrevious), c: &cF, h: &hF, hidden: H, path: path)
                lstmBackward(gates: float(ifgo), cPrevious: float(cPrevious), c: cF, dh: float(dh), dc: &dcF,
                             dGates: &dGatesF, hidden: H, path: path)
                for (name, got, expected) in [("c", cF, c), ("h", hF, h), ("dc", dcF, dcOut), ("dGates", dGatesF, dGates)] {
                    for k in expected.indices {
                        XCTAssertEqual(Double(got[k]), expected[k], accuracy: 1e-6 + 1e-5 * abs(expected[k]),
                                       "\(path), H \(H): \(name)[\(k)]")
                    }
                }
            }
        }
    }

    /// The same for the GRU's step: gates and recurrent products in, the activated gates, h,
    /// ∂P, ∂R and the direct part of ∂h_{t−1} out.
    func testGRUCellStepMatchesTheDoubleDefinition() {
        for path in KernelPath.runnable {
            var random = TestRandom(seed: 6)
            for H in [1, 7, 16, 17, 37, 64] {
                let (P, R, hPrevious, dh) = (random.uniform(3 * H, scale: 2), random.uniform(3 * H, scale: 2),
                                             random.uniform(H), random.uniform(H))
                var (gates, h) = (P, [Double](repeating: 0, count: H))
                var (dP, dR, direct) = ([Double](repeating: 0, count: 3 * H), [Double](repeating: 0, count: 3 * H),
                                        [Double](repeating: 0, count: H))
                gruForward(gates: &gates, recurrent: R, hPrevious: hPrevious, h: &h, hidden: H)
                gruBackward(gates: gates, recurrent: R, hPrevious: hPrevious, dh: dh, dP: &dP, dR: &dR, dhDirect: &direct, hidden: H)

                let float = { (x: [Double]) in x.map(Float.init) }
                var (gatesF, hF) = (float(P), [Float](repeating: 0, count: H))
                var (dPF, dRF, directF) = ([Float](repeating: 0, count: 3 * H), [Float](repeating: 0, count: 3 * H),
                                           [Float](repeating: 0, count: H))
                gruForward(gates: &gatesF, recurrent: float(R), hPrevious: float(hPrevious), h: &hF, hidden: H, path: path)
                gruBackward(gates: gatesF, recurrent: float(R), hPrevious: float(hPrevious), dh: float(dh), dP: &dPF, dR: &dRF,
                            dhDirect: &directF, hidden: H, path: path)
                for (name, got, expected) in [("gates", gatesF, gates), ("h", hF, h), ("dP", dPF, dP), ("dR", dRF, dR),
                                              ("direct", directF, direct)] {
                    for k in expected.indices {
                        XCTAssertEqual(Double(got[k]), expected[k], accuracy: 1e-6 + 1e-5 * abs(expected[k]),
                                       "\(path), H \(H): \(name)[\(k)]")
                    }
                }
            }
        }
    }

    func testActivationDerivativesMatchFiniteDifferences() {
        let backward: [(String, (Double) -> Double, (UnsafePointer<Double>, UnsafePointer<Double>, UnsafeMutablePointer<Double>) -> Void)] = [
            ("tanh", { Double.tanh($0) }, { tanhBackward(output: $0, gradient: $1, into: $2, count: 1) }),
            ("sigmoid", { 1 / (1 + Double.exp(-$0)) }, { sigmoidBackward(output: $0, gradient: $1, into: $2, count: 1) }),
            ("relu", { max($0, 0) }, { reluBackward(output: $0, gradient: $1, into: $2, count: 1) }),
        ]
        for (name, f, derivative) in backward {
            for z in [-2.5, -0.3, 0.4, 1.7] {
                var (h, g, dz) = (f(z), 1.0, 0.0)
                derivative(&h, &g, &dz)
                let numeric = (f(z + 1e-6) - f(z - 1e-6)) / 2e-6
                XCTAssertEqual(dz, numeric, accuracy: 1e-7, "\(name)'(\(z))")
            }
        }
    }

    func testSoftmaxCrossEntropyMatchesNaiveTwinAndSurvivesHugeLogits() {
        for path in KernelPath.runnable {
        var random = TestRandom(seed: 11)
        for classes in [1, 3, 7, 17, 65, 129] {
            let rows = 9
            var logits = random.uniform(rows * classes, scale: 8)
            logits[0] = 1000   // would overflow exp without the max subtraction
            if classes > 1 { logits[1] = -1000 }
            let targets = random.tokens(rows, below: classes)
            let mask: [UInt8] = (0..<rows).map { $0 == 4 ? 0 : 1 }
            var naiveGradient: [Double] = []
            let expected = naiveSoftmaxCrossEntropy(logits: logits, rows: rows, classes: classes, targets: targets,
                                                    mask: mask.map(Double.init), gradientOut: &naiveGradient)
            var fast = logits.map(Float.init)
            let loss = softmaxCrossEntropy(logits: &fast, rows: rows, classes: classes, targets: targets,
                                           mask: mask, gradient: true, path: path)
            XCTAssertTrue(loss.isFinite)
            XCTAssertEqual(loss, expected, accuracy: 1e-4 * max(1, expected), "\(path): V = \(classes)")
            for i in fast.indices {
                XCTAssertEqual(Double(fast[i]), naiveGradient[i], accuracy: 1e-6, "\(path): V = \(classes), dθ[\(i)]")
            }
        }
        }
    }

    func testClippingAndNorm() {
        var g: [Float] = [3, -4, 12, 0.5]
        XCTAssertEqual(sumOfSquares(g, count: 4), 9 + 16 + 144 + 0.25, accuracy: 1e-9)
        clamp(&g, count: 4, limit: 5)
        XCTAssertEqual(g, [3, -4, 5, 0.5])
    }

    func testPartitionCoversTheRangeInGrainMultiples() {
        for count in [0, 1, 5, 6, 7, 64, 65] { for parts in 1...4 {
            let ranges = partition(count, parts: parts, grain: 6)
            XCTAssertEqual(ranges.map(\.count).reduce(0, +), count)
            XCTAssertLessThanOrEqual(ranges.count, parts)
            for (r, next) in zip(ranges, ranges.dropFirst()) {
                XCTAssertEqual(r.upperBound, next.lowerBound)
                XCTAssertEqual(r.upperBound % 6, 0)
            }
        } }
    }

    /// Adagrad's Float update at every runnable vector width, two steps (the square sums carry
    /// over), against the scalar loop in Float: the same result bit for bit, since each lane
    /// does the same IEEE operations in the same order; lengths leave every tail.
    func testAdagradVectorsMatchTheScalarLoopBitForBit() {
        for path in KernelPath.runnable {
            var random = TestRandom(seed: 9)
            for count in [1, 7, 16, 17, 65, 129] {
                let start = random.uniform(count).map(Float.init)
                let steps = (0..<2).map { _ in random.uniform(count, scale: 3).map(Float.init) }
                var (p, m) = (start, [Float](repeating: 0.5, count: count))
                var (expected, expectedSums) = (p, m)
                let (lr, eps): (Float, Float) = (0.1, 1e-8)
                for g in steps {
                    adagradUpdate(&p, gradients: g, squareSums: &m, count: count, learningRate: lr, epsilon: eps, path: path)
                    for i in 0..<count {
                        expectedSums[i] += g[i] * g[i]
                        expected[i] -= lr * g[i] / (expectedSums[i] + eps).squareRoot()
                    }
                }
                XCTAssertEqual(p.map(\.bitPattern), expected.map(\.bitPattern), "\(path), \(count) parameters")
                XCTAssertEqual(m.map(\.bitPattern), expectedSums.map(\.bitPattern), "\(path), \(count) square sums")
                XCTAssertNotEqual(p, start)
            }
        }
    }
}
