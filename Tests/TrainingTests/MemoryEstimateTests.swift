import XCTest
import Model
@testable import Training

/// The memory estimate's parameter count, worked out in Double before the model exists, is the
/// model's own.
final class MemoryEstimateTests: XCTestCase {
    func testTheEstimateCountsTheModelsParameters() {
        for cell in [CellType.rnn, .lstm, .gru] {
            for layers in 1...3 {
                for (vocabulary, hidden) in [(5, 1), (65, 7), (300, 64)] {
                    let shape = ModelShape(vocabulary: vocabulary, hidden: hidden, cell: cell, layers: layers)
                    let estimate = MemoryEstimate(config: Config(), shape: shape, trainRows: 8, validation: nil)
                    XCTAssertEqual(estimate.parameters, Double(LanguageModel<Float>(shape: shape).layout.count),
                                   "\(cell) × \(layers), V \(vocabulary), H \(hidden)")
                }
            }
        }
    }

    func testANodeWithTooLittleMemoryRefusesTheRunNamingTheSizes() throws {
        let shape = ModelShape(vocabulary: 65, hidden: 512, cell: .lstm, layers: 2)
        let estimate = MemoryEstimate(config: Config(), shape: shape, trainRows: 64, validation: (50, 64), threads: 2)
        XCTAssertNoThrow(try estimate.check(ranksOnNode: 1, available: Int(estimate.bytesPerRank) + 1))
        XCTAssertThrowsError(try estimate.check(ranksOnNode: 2, available: Int(estimate.bytesPerRank) + 1)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("model.hidden_size") && message.contains("GiB per rank"), message)
        }
    }
}
