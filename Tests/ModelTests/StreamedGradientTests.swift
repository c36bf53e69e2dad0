import XCTest
import Synchronization
import Kernels
import Model
import TestSupport

/// Records what a backward pass reports to its `GradientListener`, and what the gradient
/// buffer held at each report.
final class RecordingListener: GradientListener, @unchecked Sendable {
    let gradients: FlatBuffer<Float>
    private(set) var ranges: [Range<Int>] = []
    /// Each reported range's values at the moment it was reported.
    private(set) var snapshots: [[Float]] = []
    let polls = Atomic<Int>(0)

    init(gradients: FlatBuffer<Float>) { self.gradients = gradients }

    func gradientsFinal(_ range: Range<Int>) {
        ranges.append(range)
        snapshots.append(Array(gradients.array[range]))
    }

    func poll() { polls.add(1, ordering: .relaxed) }
}

/// The backward pass reports the recurrent layers' gradients piece by piece so they can be
/// reduced while the rest computes; that must change no bit of them.
final class StreamedGradientTests: XCTestCase {
    func testStreamedGradientsAreBitIdenticalAndFinalWhenReported() {
        // Hidden sizes that make several dWh blocks, the last one partial.
        let shapes: [(String, ModelShape, Int?)] = [
            ("rnn H 160", ModelShape(vocabulary: 29, hidden: 160), nil),
            ("gru H 104, 2 layers", ModelShape(vocabulary: 23, hidden: 104, cell: .gru, layers: 2), nil),
            ("lstm H 72, 2 layers, truncated", ModelShape(vocabulary: 31, hidden: 72, cell: .lstm, layers: 2), 3),
        ]
        // T·B = 275 positions, past one k-block of the weight gradients' products: the streamed
        // dWh (on the states packed once) must group k into the same blocks as the plain one.
        let (T, B) = (25, 11)
        for (name, shape, truncate) in shapes {
            var random = TestRandom(seed: 16)
            let model = LanguageModel<Float>(shape: shape)
            let parameters = FlatBuffer(random.uniform(model.layout.count, scale: 0.3).map(Float.init))
            let state = random.uniform(B * shape.stateWidth, scale: 0.5).map(Float.init)
            let batch = TokenBatch(steps: T, rows: B, inputs: random.tokens(T * B, below: shape.vocabulary),
                                   targets: random.tokens(T * B, below: shape.vocabulary))
            let plain = FlatBuffer<Float>(count: model.layout.count)
            _ = model.run(batch, parameters: parameters, state: FlatBuffer(state), gradients: plain,
                          work: model.makeWorkspace(steps: T, rows: B), threads: 2, truncate: truncate)
            let streamed = FlatBuffer<Float>(count: model.layout.count)
            let listener = RecordingListener(gradients: streamed)
            _ = model.run(batch, parameters: parameters, state: FlatBuffer(state), gradients: streamed,
                          work: model.makeWorkspace(steps: T, rows: B), threads: 2, truncate: truncate, listener: listener)

            XCTAssertEqual(streamed.array, plain.array, "\(name): streaming changed the gradients")
            // Every recurrent tensor reported exactly once, nothing of the output layer's.
            let reported = listener.ranges.flatMap { Array($0) }
            let recurrent = model.layout.ranges(covering: model.layers.flatMap(\.tensors)).flatMap { Array($0) }
            XCTAssertEqual(reported.sorted(), recurrent, "\(name): reported ranges")
            // What was reported was already final.
            for (range, snapshot) in zip(listener.ranges, listener.snapshots) {
                XCTAssertEqual(snapshot, Array(plain.array[range]), "\(name): \(range) changed after it was reported final")
            }
            for layer in model.layers {
                let wh = layer.recurrentWeight
                let blocks = listener.ranges.filter { $0.overlaps(wh.offset..<(wh.offset + wh.count)) }
                let expected = layer.recurrentGradientBlocks.map { (wh.offset + $0.lowerBound * layer.hidden)..<(wh.offset + $0.upperBound * layer.hidden) }
                XCTAssertEqual(blocks, expected, "\(name): dWh of layer \(layer.index) in its blocks, in order")
                XCTAssertGreaterThan(expected.count, 1, "\(name): the shape should make several blocks")
            }
            XCTAssertGreaterThanOrEqual(listener.polls.load(ordering: .relaxed), T, "\(name): BPTT polls every step")
        }
    }
}

final class RecurrentGradientBlockTests: XCTestCase {
    /// dWh's blocks cover its rows once, in order, on multiples of 8; the earlier blocks are at
    /// most 128 rows and the last about 12 K values (one 48 KB message: fewer than 8 rows more
    /// than that), however the hidden size divides.
    func testBlocksTileTheRowsWithAShortLastBlock() {
        for (hidden, cell) in [(512, CellType.rnn), (256, .lstm), (160, .rnn), (104, .gru), (72, .lstm), (1000, .rnn),
                               (4096, .rnn), (2049, .rnn), (13, .rnn), (8, .gru), (1, .rnn)] {
            let layer = LanguageModel<Float>(shape: ModelShape(vocabulary: 5, hidden: hidden, cell: cell)).layers[0]
            let (G, blocks) = (layer.gateWidth, layer.recurrentGradientBlocks)
            let name = "\(cell) H \(hidden)"
            XCTAssertEqual(blocks.first?.lowerBound, 0, name)
            XCTAssertEqual(blocks.last?.upperBound, G, name)
            for (block, next) in zip(blocks, blocks.dropFirst()) {
                XCTAssertEqual(block.upperBound, next.lowerBound, "\(name): \(blocks)")
                XCTAssertEqual(block.upperBound % 8, 0, "\(name): \(blocks)")
                XCTAssertFalse(block.isEmpty, "\(name): \(blocks)")
                XCTAssertLessThanOrEqual(block.count, 128, "\(name): \(blocks)")
            }
            XCTAssertLessThan(blocks.last!.count, max(8, 12_288 / hidden / 8 * 8) + 8, "\(name): \(blocks)")
        }
        // Model B (rnn H 512): four blocks of ≤ 128 rows, then a 24-row (48 KB) one.
        let b = LanguageModel<Float>(shape: ModelShape(vocabulary: 65, hidden: 512)).layers[0].recurrentGradientBlocks
        XCTAssertEqual(b, [0..<120, 120..<240, 240..<360, 360..<488, 488..<512])
    }
}
