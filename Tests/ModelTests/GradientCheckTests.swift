import XCTest
import Kernels
import Model
import TestSupport

/// Float64 centred-difference checks of every backward pass (the classic char-rnn check). Each check
/// perturbs every parameter and every element of the carried initial state (h, and c for the
/// LSTM); the analytic gradient must agree to a relative error below 1e-6 everywhere.
final class GradientCheckTests: XCTestCase {
    let (V, H, T, B) = (5, 4, 6, 3)
    let tolerance = 1e-6

    /// A model with random parameters (not the training initialisation: every weight matters,
    /// biases nonzero), a random nonzero carried state and a batch with masked positions.
    func makeFixture(_ shape: ModelShape, seed: UInt64)
        -> (LanguageModel<Double>, FlatBuffer<Double>, [Double], TokenBatch)
    {
        var random = TestRandom(seed: seed)
        let model = LanguageModel<Double>(shape: shape)
        let parameters = FlatBuffer(random.uniform(model.layout.count, scale: 0.8))
        let state = random.uniform(B * shape.stateWidth, scale: 0.9)
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

    /// The finite-difference step: ReLU's kink at 0 must stay farther than 2h from every
    /// pre-activation, so its model takes a smaller step than the smooth cells.
    func step(for shape: ModelShape) -> Double { shape.cell == .rnn && shape.activation == .relu ? 1e-5 : 1e-4 }

    func values(_ buffer: FlatBuffer<Double>, _ tensor: TensorSpec) -> [Double] {
        Array(UnsafeBufferPointer(start: buffer.view(tensor), count: tensor.count))
    }

    static let shapes: [(String, ModelShape)] = [
        ("rnn tanh", ModelShape(vocabulary: 5, hidden: 4, activation: .tanh)),
        ("rnn sigmoid", ModelShape(vocabulary: 5, hidden: 4, activation: .sigmoid)),
        ("rnn relu", ModelShape(vocabulary: 5, hidden: 4, activation: .relu)),
        ("lstm", ModelShape(vocabulary: 5, hidden: 4, cell: .lstm)),
        ("gru", ModelShape(vocabulary: 5, hidden: 4, cell: .gru)),
    ]

    /// The recurrent layer alone ("the cell"): loss = Σ upstream ⊙ h over the chunk.
    func testRecurrentLayerGradientsForEveryCell() {
        for (name, shape) in Self.shapes {
            let (model, parameters, state, batch) = makeFixture(shape, seed: 21)
            let layer = model.layers[0]
            var random = TestRandom(seed: 5)
            let upstream = random.normal(T * B * H)
            let work = model.makeWorkspace(steps: T, rows: B)
            let initial = FlatBuffer(state)
            func loss() -> Double {
                model.forwardLayers(batch, parameters: parameters, state: initial, work: work, threads: 1, dropout: nil)
                return zip(upstream, work.layers[0].states.array[(B * H)...]).map { $0 * $1 }.reduce(0, +)
            }
            _ = loss()
            let gradients = FlatBuffer<Double>(count: model.layout.count)
            work.layers[0].hiddenGrads.base.update(from: upstream, count: upstream.count)
            layer.backward(tokens: batch.inputs, below: nil, belowGradient: nil, steps: T, rows: B,
                           parameters: parameters, gradients: gradients, work: work.layers[0], threads: 2)
            for tensor in model.layout.tensors where tensor != model.output.weight && tensor != model.output.bias {
                check("\(name) d\(tensor.name)", analytic: values(gradients, tensor),
                      numeric: numericalGradient(of: loss, perturbing: parameters.view(tensor), count: tensor.count, step: step(for: shape)))
            }
            check("\(name) d(h0, c0)", analytic: model.initialStateGradient(work),
                  numeric: numericalGradient(of: loss, perturbing: initial.base, count: initial.count, step: step(for: shape)))
        }
    }

    func testOutputLayerGradients() {
        let (model, parameters, _, batch) = makeFixture(ModelShape(vocabulary: V, hidden: H), seed: 22)
        let layer = model.output
        var random = TestRandom(seed: 6)
        let work = model.makeWorkspace(steps: T, rows: B)
        let hidden = random.uniform((T + 1) * B * H)
        work.top.states.base.update(from: hidden, count: hidden.count)
        let loss = { layer.forward(batch, parameters: parameters, work: work, gradient: false, threads: 1) }
        let gradients = FlatBuffer<Double>(count: model.layout.count)
        _ = layer.forward(batch, parameters: parameters, work: work, gradient: true, threads: 1)
        layer.backward(batch, parameters: parameters, gradients: gradients, work: work, threads: 1)
        let dh = work.top.hiddenGrads.array
        for tensor in [layer.weight, layer.bias] {
            check("d\(tensor.name)", analytic: values(gradients, tensor),
                  numeric: numericalGradient(of: loss, perturbing: parameters.view(tensor), count: tensor.count))
        }
        check("dh", analytic: dh, numeric: numericalGradient(of: loss, perturbing: work.top.states.base + B * H, count: T * B * H))
        // Masked positions contribute nothing: their rows of ∂loss/∂h must be exactly zero.
        for position in 0..<(T * B) where batch.mask![position] == 0 {
            XCTAssertEqual(Array(dh[(position * H)..<((position + 1) * H)]), [Double](repeating: 0, count: H))
        }
    }

    /// The whole model over T = 6 with carried state and a mask: every cell alone, and 2-layer
    /// stacks of each kind (one with dropout between the layers, its masks fixed by the seed).
    func testWholeModelGradients() {
        var shapes = Self.shapes
        for cell in CellType.allCases {
            shapes.append(("2-layer \(cell)", ModelShape(vocabulary: V, hidden: H, cell: cell, layers: 2)))
        }
        shapes.append(("2-layer lstm with dropout", ModelShape(vocabulary: V, hidden: H, cell: .lstm, layers: 2, dropout: 0.3)))
        for (name, shape) in shapes {
            let (model, parameters, state, batch) = makeFixture(shape, seed: 23)
            let work = model.makeWorkspace(steps: T, rows: B)
            let dropout = shape.dropout > 0 ? DropoutSeed(seed: 9, step: 3, firstRow: 0) : nil
            let initial = FlatBuffer(state)
            func loss() -> Double {
                model.run(batch, parameters: parameters, state: FlatBuffer(initial.array), gradients: nil, work: work,
                          threads: 1, dropout: dropout).nats
            }
            let gradients = FlatBuffer<Double>(count: model.layout.count)
            let measured = model.run(batch, parameters: parameters, state: FlatBuffer(state), gradients: gradients,
                                     work: work, threads: 2, dropout: dropout)
            XCTAssertEqual(measured.tokens, T * B - 3)
            let dState = model.initialStateGradient(work)
            for tensor in model.layout.tensors {
                check("\(name) d\(tensor.name)", analytic: values(gradients, tensor),
                      numeric: numericalGradient(of: loss, perturbing: parameters.view(tensor), count: tensor.count,
                                                 step: step(for: shape)))
            }
            check("\(name) d(carried state)", analytic: dState,
                  numeric: numericalGradient(of: loss, perturbing: initial.base, count: initial.count, step: step(for: shape)))
        }
    }

    /// Truncated BPTT (`train.bptt_truncate`): the loss of step t sends gradient back through steps
    /// t…max(0, t−k) only. That is the exact gradient of Σ_t loss_t computed with the state
    /// before step t−k held constant, which the reference below evaluates by finite differences.
    func testTruncatedBackpropagationMatchesTheDetachedLoss() {
        let k = 2
        for (name, shape) in [Self.shapes[0], Self.shapes[3], Self.shapes[4]] {
            let (model, parameters, state, batch) = makeFixture(shape, seed: 24)
            let work = model.makeWorkspace(steps: T, rows: B)
            let oneStep = model.makeWorkspace(steps: 1, rows: B)
            let initial = FlatBuffer(state)
            // The unperturbed states before every step, held constant by the reference.
            var detached: [[Double]] = []
            let carried = FlatBuffer(state)
            for t in 0..<T {
                detached.append(carried.array)
                _ = model.run(slice(batch, t..<(t + 1)), parameters: parameters, state: carried, gradients: nil,
                              work: oneStep, threads: 1)
            }
            func truncatedLoss() -> Double {
                var total = 0.0
                for t in 0..<T {
                    let start = max(0, t - k)
                    let from = FlatBuffer(start == 0 ? initial.array : detached[start])
                    let window = model.makeWorkspace(steps: t - start + 1, rows: B)
                    var part = slice(batch, start..<(t + 1))
                    part.mask = (0..<part.steps).flatMap { s in (0..<B).map { b in s == part.steps - 1 ? batch.mask![t * B + b] : 0 } }
                    total += model.run(part, parameters: parameters, state: from, gradients: nil, work: window, threads: 1).nats
                }
                return total
            }
            let gradients = FlatBuffer<Double>(count: model.layout.count)
            _ = model.run(batch, parameters: parameters, state: FlatBuffer(state), gradients: gradients, work: work,
                          threads: 2, truncate: k)
            let dState = model.initialStateGradient(work)
            for tensor in model.layout.tensors {
                check("\(name) truncated d\(tensor.name)", analytic: values(gradients, tensor),
                      numeric: numericalGradient(of: truncatedLoss, perturbing: parameters.view(tensor), count: tensor.count))
            }
            check("\(name) truncated d(carried state)", analytic: dState,
                  numeric: numericalGradient(of: truncatedLoss, perturbing: initial.base, count: initial.count))
            // And it is not the full gradient: truncation changes something.
            let full = FlatBuffer<Double>(count: model.layout.count)
            _ = model.run(batch, parameters: parameters, state: FlatBuffer(state), gradients: full, work: work, threads: 1)
            XCTAssertNotEqual(full.array, gradients.array, name)
        }
    }

    func slice(_ batch: TokenBatch, _ steps: Range<Int>) -> TokenBatch {
        let r = (steps.lowerBound * batch.rows)..<(steps.upperBound * batch.rows)
        return TokenBatch(steps: steps.count, rows: batch.rows, inputs: Array(batch.inputs[r]),
                          targets: Array(batch.targets[r]), mask: batch.mask.map { Array($0[r]) })
    }
}
