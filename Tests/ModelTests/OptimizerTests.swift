import XCTest
import Model
import Foundation

/// Each update rule against a computation by hand, on three parameters with a zero gradient
/// among them, over two steps (so that the state carried between steps matters).
final class OptimizerTests: XCTestCase {
    let start: [Double] = [1.0, -2.0, 0.5]
    let gradients: [[Double]] = [[0.5, -4.0, 0.0], [-1.0, 2.0, 3.0]]

    func run(_ settings: OptimizerSettings, lr: Double) -> [Double] {
        let optimizer = Optimizer<Double>(settings, parameterCount: 3)
        let parameters = FlatBuffer(start)
        for g in gradients { optimizer.update(parameters, gradients: FlatBuffer(g), learningRate: lr) }
        XCTAssertEqual(optimizer.steps, 2)
        return parameters.array
    }

    func assertClose(_ a: [Double], _ b: [Double], file: StaticString = #filePath, line: UInt = #line) {
        for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-12, file: file, line: line) }
    }

    func testAdagrad() {
        let eps = 1e-8
        var expected = start, memory = [0.0, 0.0, 0.0]
        for g in gradients {
            for i in 0..<3 {
                memory[i] += g[i] * g[i]
                expected[i] -= 0.1 * g[i] / (memory[i] + eps).squareRoot()
            }
        }
        assertClose(run(OptimizerSettings(kind: .adagrad, epsilon: eps), lr: 0.1), expected)
        // By hand for parameter 0: 1 − 0.1·0.5/0.5 − 0.1·(−1)/√1.25.
        XCTAssertEqual(expected[0], 1 - 0.1 + 0.1 / 1.25.squareRoot(), accuracy: 1e-7)
    }

    func testSGD() {
        assertClose(run(OptimizerSettings(kind: .sgd), lr: 0.1), [1.0 - 0.05 + 0.1, -2.0 + 0.4 - 0.2, 0.5 - 0.3])
    }

    func testMomentum() {
        // v1 = g1, v2 = 0.9·g1 + g2.
        let v2 = zip(gradients[0], gradients[1]).map { 0.9 * $0 + $1 }
        let expected = (0..<3).map { start[$0] - 0.1 * gradients[0][$0] - 0.1 * v2[$0] }
        assertClose(run(OptimizerSettings(kind: .momentum, momentum: 0.9), lr: 0.1), expected)
    }

    func testAdam() {
        let (b1, b2, eps, lr) = (0.9, 0.999, 1e-8, 0.01)
        var (m, v, p) = ([0.0, 0, 0], [0.0, 0, 0], start)
        for (t, g) in gradients.enumerated() {
            for i in 0..<3 {
                m[i] = b1 * m[i] + (1 - b1) * g[i]
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                let mHat = m[i] / (1 - Foundation.pow(b1, Double(t + 1)))
                let vHat = v[i] / (1 - Foundation.pow(b2, Double(t + 1)))
                p[i] -= lr * mHat / (vHat.squareRoot() + eps)
            }
        }
        assertClose(run(OptimizerSettings(kind: .adam, beta1: b1, beta2: b2, epsilon: eps), lr: lr), p)
        // The first Adam step moves every parameter with a nonzero gradient by lr·sign(g)
        // (up to ε/|g|).
        let optimizer = Optimizer<Double>(OptimizerSettings(kind: .adam), parameterCount: 3)
        let parameters = FlatBuffer(start)
        optimizer.update(parameters, gradients: FlatBuffer(gradients[0]), learningRate: lr)
        for (x, y) in zip(parameters.array, [1.0 - 0.01, -2.0 + 0.01, 0.5]) { XCTAssertEqual(x, y, accuracy: 1e-9) }
    }

    func testRMSprop() {
        let (rho, eps, lr) = (0.99, 1e-8, 0.01)
        var (s, p) = ([0.0, 0, 0], start)
        for g in gradients {
            for i in 0..<3 {
                s[i] = rho * s[i] + (1 - rho) * g[i] * g[i]
                p[i] -= lr * g[i] / (s[i].squareRoot() + eps)
            }
        }
        assertClose(run(OptimizerSettings(kind: .rmsprop, rho: rho, epsilon: eps), lr: lr), p)
    }

    func testSchedules() {
        let step = LearningRateSchedule.stepDecay(factor: 0.5, every: 100)
        XCTAssertEqual(step.rate(base: 0.1, step: 0, current: 0.1), 0.1)
        XCTAssertEqual(step.rate(base: 0.1, step: 99, current: 0.1), 0.1)
        XCTAssertEqual(step.rate(base: 0.1, step: 100, current: 0.1), 0.05)
        XCTAssertEqual(step.rate(base: 0.1, step: 250, current: 0.1), 0.025)
        let plateau = LearningRateSchedule.halveOnPlateau
        XCTAssertEqual(plateau.afterValidation(current: 0.1, previous: nil, latest: 2.0), 0.1)
        XCTAssertEqual(plateau.afterValidation(current: 0.1, previous: 2.0, latest: 1.9), 0.1)
        XCTAssertEqual(plateau.afterValidation(current: 0.1, previous: 2.0, latest: 2.1), 0.05)
        XCTAssertEqual(LearningRateSchedule.constant.afterValidation(current: 0.1, previous: 2.0, latest: 2.1), 0.1)
        XCTAssertEqual(LearningRateSchedule.constant.rate(base: 0.1, step: 5000, current: 0.3), 0.1)
    }
}
