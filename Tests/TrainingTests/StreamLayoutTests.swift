import XCTest
import Model
import Training

final class StreamLayoutTests: XCTestCase {
    func testShardsAreDisjointContiguousAndCoverTheGlobalBatch() {
        for ranks in [1, 2, 4, 8] {
            let layouts = (0..<ranks).map { StreamLayout(tokenCount: 10_007, globalRows: 8, steps: 10, rank: $0, ranks: ranks) }
            XCTAssertEqual(layouts.map(\.rows.count).reduce(0, +), 8)
            for (a, b) in zip(layouts, layouts.dropFirst()) { XCTAssertEqual(a.rows.upperBound, b.rows.lowerBound) }
            XCTAssertEqual(Set(layouts.map(\.stepsPerEpoch)).count, 1, "every rank takes the same steps")
        }
    }

    func testEveryRankCountSeesTheSameGlobalBatches() {
        let tokens = (0..<5003).map { Int32($0 % 97) }
        let corpus = Corpus(vocabulary: Vocabulary(tokenizer: .byte, symbols: 0..<97), tokens: tokens)
        let whole = StreamLayout(tokenCount: tokens.count, globalRows: 8, steps: 7, rank: 0, ranks: 1)
        var reference = whole.makeBatch(masked: false)
        for step in [0, 3, whole.stepsPerEpoch - 1] {
            whole.fill(&reference, step: step, from: corpus)
            for ranks in [2, 4] {
                for rank in 0..<ranks {
                    let layout = StreamLayout(tokenCount: tokens.count, globalRows: 8, steps: 7, rank: rank, ranks: ranks)
                    var batch = layout.makeBatch(masked: false)
                    layout.fill(&batch, step: step, from: corpus)
                    for t in 0..<7 {
                        for (local, global) in layout.rows.enumerated() {
                            XCTAssertEqual(batch.inputs[t * layout.rows.count + local], reference.inputs[t * 8 + global])
                            XCTAssertEqual(batch.targets[t * layout.rows.count + local], reference.targets[t * 8 + global])
                        }
                    }
                }
            }
        }
    }

    func testChunksFollowEachOtherWithinAStream() {
        let tokens = (0..<1000).map { Int32($0 % 250) }
        let corpus = Corpus(vocabulary: Vocabulary(tokenizer: .byte, symbols: 0..<250), tokens: tokens)
        let layout = StreamLayout(tokenCount: 1000, globalRows: 4, steps: 5, rank: 0, ranks: 1)
        XCTAssertEqual(layout.streamLength, 250)
        XCTAssertEqual(layout.stepsPerEpoch, 49)
        var batch = layout.makeBatch(masked: false)
        layout.fill(&batch, step: 1, from: corpus)
        // Stream 2 starts at token 500; step 1 covers its tokens 5...9, targets 6...10.
        let inputs: [Int32] = (0..<5).map { batch.inputs[$0 * 4 + 2] }
        let targets: [Int32] = (0..<5).map { batch.targets[$0 * 4 + 2] }
        XCTAssertEqual(inputs, [5, 6, 7, 8, 9])      // token 500 + i is (500 + i) % 250 = i
        XCTAssertEqual(targets, [6, 7, 8, 9, 10])
    }
}
