import XCTest
import Kernels
import TestSupport

final class ElementwiseTests: XCTestCase {
    func testVectorActivationsMatchScalarReference() {
        var random = TestRandom(seed: 3)
        for activation in Activation.allCases {
            for count in [1, 7, 16, 17, 65, 129] {
                let specials: [Float] = [0, 1e-3, -30, 30]
                let x: [Float] = random.uniform(count, scale: 12).map(Float.init) + specials.prefix(min(4, count))
                var y = x
                activation.apply(&y, count: y.count)
                for i in x.indices {
                    let expected = activation.value(Double(x[i]))
                    XCTAssertEqual(Double(y[i]), expected, accuracy: 2e-7 + 2e-7 * abs(expected),
                                   "\(activation)(\(x[i]))")
                }
            }
        }
    }

    func testActivationDerivativesMatchFiniteDifferences() {
        for activation in Activation.allCases {
            for z in [-2.5, -0.3, 0.4, 1.7] {
                let h = activation.value(z)
                var dz = [0.0]
                activation.backward(output: [h], gradient: [1.0], into: &dz, count: 1)
                let numeric = (activation.value(z + 1e-6) - activation.value(z - 1e-6)) / 2e-6
                XCTAssertEqual(dz[0], numeric, accuracy: 1e-7, "\(activation)'(\(z))")
            }
        }
    }

    func testSoftmaxCrossEntropyMatchesNaiveTwinAndSurvivesHugeLogits() {
        var random = TestRandom(seed: 11)
        for classes in [1, 7, 17, 65, 129] {
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
                                           mask: mask, gradient: true)
            XCTAssertTrue(loss.isFinite)
            XCTAssertEqual(loss, expected, accuracy: 1e-4 * max(1, expected), "V = \(classes)")
            for i in fast.indices {
                XCTAssertEqual(Double(fast[i]), naiveGradient[i], accuracy: 1e-6, "V = \(classes), dθ[\(i)]")
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
}
