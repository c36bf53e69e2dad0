import XCTest
import Kernels
import Model
import TestSupport

/// Float64 centred-difference checks of every backward pass (seed 000's method). Each check
/// perturbs every parameter and every element of the carried initial state; the analytic
/// gradient must agree to a relative error below 1e-6 everywhere.
final class GradientCheckTests: XCTestCase {
    let (V, H, T, B) = (5, 4, 6, 3)
    let tolerance = 1e-6

    /// A model with random parameters (not the training initialisation: every weight matters,
    /// biases nonzero) and a random, nonzero carried state.
    func makeFixture(_ activation: Activation, seed: UInt64)
        -> (LanguageModel<Double>, FlatBuffer<Double>, FlatBuffer<Double>, TokenBatch)
    {
        var random = TestRandom(seed: seed)
        let model = LanguageModel<Double>(shape: ModelShape(vocabulary: V, hidden: H, activation: activation))
        let parameters = FlatBuffer(random.uniform(model.layout.count, scale: 0.8))
        let state = FlatBuffer(random.uniform(B * H, scale: 0.9))
        var mask = [UInt8](repeating: 1, count: T * B)
        mask[1] = 0; mask[T * B - 2] = 0; mask[7] = 0
        let batch = TokenBatch(steps: T, rows: B, inputs: random.tokens(T * B, below: V),
                               targets: random.tokens(T * B, below: V), mask: mask)
        return (model, parameters, state, batch)
    }

    func check(_ name: String, analytic: [Double], numeric: [Double], file: StaticString = #filePath, line: UInt = #line) {
        let worst = worstRelativeError(numeric, analytic)
        XCTAssertLessThan(worst.relativeError, tolerance, "\(name): \(worst)", file: file, line: line)
    }

    func testRecurrentLayerGradients() {
        for activation in Activation.allCases {
            let (model, parameters, state, batch) = makeFixture(activation, seed: 21)
            let layer = model.recurrent
            var random = TestRandom(seed: 5)
            let upstream = random.normal(T * B * H)   // ∂loss/∂h_t: loss = Σ upstream ⊙ h
            let work = model.makeWorkspace(steps: T, rows: B)
            func loss() -> Double {
                work.states.base.update(from: state.base, count: B * H)
                layer.forward(batch, parameters: parameters, work: work, threads: 1)
                return zip(upstream, work.states.array[(B * H)...]).map { $0 * $1 }.reduce(0, +)
            }
            _ = loss()
            let gradients = FlatBuffer<Double>(count: model.layout.count)
            work.hiddenGrads.base.update(from: upstream, count: upstream.count)
            layer.backward(batch, parameters: parameters, gradients: gradients, work: work, threads: 1)
            let dh0 = work.initialStateGradient
            for tensor in [layer.embedding, layer.recurrent, layer.bias] {
                let numeric = numericalGradient(of: loss, perturbing: parameters.view(tensor), count: tensor.count)
                let analytic = Array(UnsafeBufferPointer(start: gradients.view(tensor), count: tensor.count))
                check("\(activation) d\(tensor.name)", analytic: analytic, numeric: numeric)
            }
            check("\(activation) dh0", analytic: dh0,
                  numeric: numericalGradient(of: loss, perturbing: state.base, count: B * H))
        }
    }

    func testOutputLayerGradients() {
        let (model, parameters, _, batch) = makeFixture(.tanh, seed: 22)
        let layer = model.output
        var random = TestRandom(seed: 6)
        let work = model.makeWorkspace(steps: T, rows: B)
        let hidden = random.uniform((T + 1) * B * H)
        work.states.base.update(from: hidden, count: hidden.count)
        let loss = { layer.forward(batch, parameters: parameters, work: work, gradient: false, threads: 1) }
        let gradients = FlatBuffer<Double>(count: model.layout.count)
        _ = layer.forward(batch, parameters: parameters, work: work, gradient: true, threads: 1)
        layer.backward(batch, parameters: parameters, gradients: gradients, work: work, threads: 1)
        let dh = work.hiddenGrads.array
        for tensor in [layer.weight, layer.bias] {
            let numeric = numericalGradient(of: loss, perturbing: parameters.view(tensor), count: tensor.count)
            check("d\(tensor.name)", analytic: Array(UnsafeBufferPointer(start: gradients.view(tensor), count: tensor.count)),
                  numeric: numeric)
        }
        let numericDh = numericalGradient(of: loss, perturbing: work.states.base + B * H, count: T * B * H)
        check("dh", analytic: dh, numeric: numericDh)
        // Masked positions contribute nothing: their rows of ∂loss/∂h must be exactly zero.
        for position in 0..<(T * B) where batch.mask![position] == 0 {
            XCTAssertEqual(Array(dh[(position * H)..<((position + 1) * H)]), [Double](repeating: 0, count: H))
        }
    }

    func testWholeModelGradientsWithCarriedStateAndMask() {
        for activation in Activation.allCases {
            let (model, parameters, state, batch) = makeFixture(activation, seed: 23)
            let work = model.makeWorkspace(steps: T, rows: B)
            let initialState = state.array
            func loss() -> Double {
                let carried = FlatBuffer(initialState)
                return model.run(batch, parameters: parameters, state: carried, gradients: nil, work: work, threads: 1).nats
            }
            let gradients = FlatBuffer<Double>(count: model.layout.count)
            let measured = model.run(batch, parameters: parameters, state: FlatBuffer(initialState),
                                     gradients: gradients, work: work, threads: 2)
            XCTAssertEqual(measured.tokens, T * B - 3)
            let dh0 = work.initialStateGradient
            for tensor in model.layout.tensors {
                let numeric = numericalGradient(of: loss, perturbing: parameters.view(tensor), count: tensor.count)
                check("\(activation) d\(tensor.name)",
                      analytic: Array(UnsafeBufferPointer(start: gradients.view(tensor), count: tensor.count)),
                      numeric: numeric)
            }
            let statePointer = UnsafeMutablePointer<Double>.allocate(capacity: B * H)
            defer { statePointer.deallocate() }
            statePointer.update(from: initialState, count: B * H)
            let numericDh0 = numericalGradient(of: {
                model.run(batch, parameters: parameters, state: FlatBuffer(Array(UnsafeBufferPointer(start: statePointer, count: B * H))),
                          gradients: nil, work: work, threads: 1).nats
            }, perturbing: statePointer, count: B * H)
            check("\(activation) dh0", analytic: dh0, numeric: numericDh0)
        }
    }
}
