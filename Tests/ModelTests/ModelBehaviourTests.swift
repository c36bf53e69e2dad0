import XCTest
import Kernels
import Model
import TestSupport

final class ModelBehaviourTests: XCTestCase {
    /// Carrying the state from one chunk into the next is the same computation as one chunk of
    /// twice the length: truncated BPTT changes gradients, never the forward pass.
    func testCarriedStateEqualsOneLongerChunk() {
        var random = TestRandom(seed: 4)
        let (V, H, T, B) = (6, 5, 4, 3)
        let model = LanguageModel<Double>(shape: ModelShape(vocabulary: V, hidden: H, activation: .tanh))
        let parameters = FlatBuffer(random.uniform(model.layout.count))
        let inputs = random.tokens(2 * T * B, below: V), targets = random.tokens(2 * T * B, below: V)
        let long = TokenBatch(steps: 2 * T, rows: B, inputs: inputs, targets: targets)
        let first = TokenBatch(steps: T, rows: B, inputs: Array(inputs[..<(T * B)]), targets: Array(targets[..<(T * B)]))
        let second = TokenBatch(steps: T, rows: B, inputs: Array(inputs[(T * B)...]), targets: Array(targets[(T * B)...]))
        let longState = FlatBuffer<Double>(count: B * H)
        let whole = model.run(long, parameters: parameters, state: longState, gradients: nil,
                              work: model.makeWorkspace(steps: 2 * T, rows: B), threads: 1)
        let state = FlatBuffer<Double>(count: B * H)
        let work = model.makeWorkspace(steps: T, rows: B)
        let a = model.run(first, parameters: parameters, state: state, gradients: nil, work: work, threads: 1)
        let b = model.run(second, parameters: parameters, state: state, gradients: nil, work: work, threads: 1)
        XCTAssertEqual(a.nats + b.nats, whole.nats, accuracy: 1e-12)
        XCTAssertEqual(state.array, longState.array)
    }

    /// Skipping the initial state's gradient (training) skips only that: every parameter
    /// gradient, loss and carried state comes out bit for bit the same, for each cell, two
    /// layers, with and without truncated BPTT (whose window reaches step 0 from several
    /// origins).
    func testSkippingTheInitialStateGradientChangesNoParameterGradient() {
        var random = TestRandom(seed: 21)
        let (V, T, B) = (11, 6, 3)
        for cell in [CellType.rnn, .lstm, .gru] {
            for truncate in [nil, 2] {
                let model = LanguageModel<Float>(shape: ModelShape(vocabulary: V, hidden: 8, cell: cell, layers: 2))
                let parameters = FlatBuffer(random.uniform(model.layout.count, scale: 0.5).map(Float.init))
                let initial = random.uniform(B * model.shape.stateWidth, scale: 0.5).map(Float.init)
                let batch = TokenBatch(steps: T, rows: B, inputs: random.tokens(T * B, below: V),
                                       targets: random.tokens(T * B, below: V))
                func run(stateGradient: Bool) -> (gradients: [Float], nats: Double, state: [Float]) {
                    let (gradients, state) = (FlatBuffer<Float>(count: model.layout.count), FlatBuffer(initial))
                    let loss = model.run(batch, parameters: parameters, state: state, gradients: gradients,
                                         work: model.makeWorkspace(steps: T, rows: B), threads: 1, truncate: truncate,
                                         stateGradient: stateGradient)
                    return (gradients.array, loss.nats, state.array)
                }
                let (full, skipped) = (run(stateGradient: true), run(stateGradient: false))
                let name = "\(cell) truncate \(truncate.map(String.init) ?? "none")"
                XCTAssertTrue(full.gradients.contains { $0 != 0 }, name)
                XCTAssertEqual(full.gradients, skipped.gradients, name)
                XCTAssertEqual(full.nats, skipped.nats, name)
                XCTAssertEqual(full.state, skipped.state, name)
            }
        }
    }

    /// A step big enough that every split engages (products, the bias/embedding sums by
    /// columns, the GRU's b_hn, the optimizer) gives the same gradients and update with 1 and
    /// 3 threads, bit for bit: the splits never reorder a sum.
    func testThreadCountDoesNotChangeGradientsOrUpdate() {
        var random = TestRandom(seed: 12)
        let (V, T, B) = (65, 48, 64)
        let model = LanguageModel<Float>(shape: ModelShape(vocabulary: V, hidden: 256, cell: .gru))
        XCTAssertGreaterThanOrEqual(T * B * 3 * 256, 2 << 20, "too small for the column sums to split")
        let parameters = FlatBuffer<Float>(count: model.layout.count)
        model.initialize(parameters, seed: 3)
        let batch = TokenBatch(steps: T, rows: B, inputs: random.tokens(T * B, below: V),
                               targets: random.tokens(T * B, below: V))
        func step(threads: Int) -> (gradients: [Float], updated: [Float]) {
            let gradients = FlatBuffer<Float>(count: model.layout.count)
            _ = model.run(batch, parameters: parameters, state: FlatBuffer(count: B * model.shape.stateWidth),
                          gradients: gradients, work: model.makeWorkspace(steps: T, rows: B), threads: threads)
            let updated = FlatBuffer<Float>(parameters.array)
            Optimizer<Float>(OptimizerSettings(kind: .adam), parameterCount: model.layout.count)
                .update(updated, gradients: gradients, learningRate: 0.01, threads: threads)
            return (gradients.array, updated.array)
        }
        let (one, three) = (step(threads: 1), step(threads: 3))
        XCTAssertTrue(one.gradients.contains { $0 != 0 })
        XCTAssertEqual(one.gradients, three.gradients)
        XCTAssertEqual(one.updated, three.updated)
    }

    func testClippingByValueAndByGlobalNorm() {
        var g: [Double] = [3, -4, 12]
        XCTAssertEqual(GradientClipping.value(5).apply(&g, count: 3), 13, accuracy: 1e-12)
        XCTAssertEqual(g, [3, -4, 5])
        g = [3, -4, 12]
        XCTAssertEqual(GradientClipping.globalNorm(6.5).apply(&g, count: 3), 13, accuracy: 1e-12)
        XCTAssertEqual(g, [1.5, -2, 6])
        g = [3, -4, 12]
        GradientClipping.globalNorm(20).apply(&g, count: 3)
        XCTAssertEqual(g, [3, -4, 12], "under the limit: untouched")
    }

    func testInitialisationFollowsTheSpecAndTheSeed() {
        let model = LanguageModel<Float>(shape: ModelShape(vocabulary: 65, hidden: 64, activation: .tanh))
        let a = FlatBuffer<Float>(count: model.layout.count), b = FlatBuffer<Float>(count: model.layout.count)
        model.initialize(a, seed: 1)
        model.initialize(b, seed: 1)
        XCTAssertEqual(a.array, b.array)
        model.initialize(b, seed: 2)
        XCTAssertNotEqual(a.array, b.array)
        func values(_ name: String) -> [Float] {
            let t = model.layout[name]!
            return Array(UnsafeBufferPointer(start: a.view(t), count: t.count))
        }
        let embedding = values("We").map(Double.init)
        let mean = embedding.reduce(0, +) / Double(embedding.count)
        let variance = embedding.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(embedding.count)
        XCTAssertEqual(mean, 0, accuracy: 0.05)
        XCTAssertEqual(variance, 1, accuracy: 0.08, "We ~ N(0, 1)")
        for name in ["Wh", "U"] {
            XCTAssertLessThanOrEqual(values(name).map { abs($0) }.max()!, 1 / 8, "\(name) within ±1/√H")
            XCTAssertGreaterThan(values(name).map { abs($0) }.max()!, 0.12)
        }
        XCTAssertEqual(values("b1"), [Float](repeating: 0, count: 64))
        XCTAssertEqual(values("b2"), [Float](repeating: 0, count: 65))
    }
}
