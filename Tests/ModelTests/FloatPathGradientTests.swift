import XCTest
import Kernels
import Model
import TestSupport

/// The gradients the trainer actually uses — Float, through the SIMD GEMM tiles, the vector
/// exp and activation kernels and several threads — against the Float64 model on the same
/// parameters and batch, whose gradients `GradientCheckTests` checks by finite differences.
/// Together the two make the fast path a checked gradient, not only its kernels' naive twins.
final class FloatPathGradientTests: XCTestCase {
    // Odd sizes larger than every register tile, so the tiles' edges run too.
    let (V, H, T, B) = (67, 37, 9, 13)

    func testFloatGradientsOfEveryCellMatchFloat64() {
        let shapes: [(String, ModelShape)] = [
            ("rnn tanh", ModelShape(vocabulary: V, hidden: H, activation: .tanh, layers: 2)),
            ("rnn sigmoid", ModelShape(vocabulary: V, hidden: H, activation: .sigmoid)),
            ("rnn relu", ModelShape(vocabulary: V, hidden: H, activation: .relu)),
            ("lstm", ModelShape(vocabulary: V, hidden: H, cell: .lstm, layers: 2)),
            ("gru", ModelShape(vocabulary: V, hidden: H, cell: .gru, layers: 2)),
        ]
        for (name, shape) in shapes {
            var random = TestRandom(seed: 41)
            // Values that Float holds exactly, so both models start from the same numbers.
            let parameters = random.uniform(LanguageModel<Double>(shape: shape).layout.count, scale: 0.3)
                .map { Double(Float($0)) }
            let state = random.uniform(B * shape.stateWidth, scale: 0.5).map { Double(Float($0)) }
            let batch = TokenBatch(steps: T, rows: B, inputs: random.tokens(T * B, below: V),
                                   targets: random.tokens(T * B, below: V))

            let exact = LanguageModel<Double>(shape: shape)
            let exactGradients = FlatBuffer<Double>(count: exact.layout.count)
            let exactLoss = exact.run(batch, parameters: FlatBuffer(parameters), state: FlatBuffer(state),
                                      gradients: exactGradients, work: exact.makeWorkspace(steps: T, rows: B), threads: 1)

            let fast = LanguageModel<Float>(shape: shape)
            let fastGradients = FlatBuffer<Float>(count: fast.layout.count)
            let fastLoss = fast.run(batch, parameters: FlatBuffer(parameters.map(Float.init)),
                                    state: FlatBuffer(state.map(Float.init)), gradients: fastGradients,
                                    work: fast.makeWorkspace(steps: T, rows: B), threads: 3)

            XCTAssertEqual(fastLoss.nats, exactLoss.nats, accuracy: 1e-5 * exactLoss.nats, name)
            for tensor in exact.layout.tensors {
                let expected = UnsafeBufferPointer(start: exactGradients.view(tensor), count: tensor.count)
                let actual = UnsafeBufferPointer(start: fastGradients.view(tensor), count: tensor.count)
                let scale = expected.map(abs).max() ?? 0
                XCTAssertGreaterThan(scale, 0, "\(name) d\(tensor.name) is all zero")
                let worst = zip(expected, actual).map { abs($0 - Double($1)) }.max() ?? 0
                // Float rounding over sums of T·B terms stays near 1e-6 of the largest component;
                // a wrong index or a lost tile edge is of the order of the components themselves.
                XCTAssertLessThan(worst / scale, 1e-4, "\(name) d\(tensor.name): worst \(worst) of \(scale)")
            }
        }
    }
}
