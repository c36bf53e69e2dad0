import XCTest
import Model

/// The account that workspaces allocate by (`WorkspaceSize`), which the trainer's memory
/// estimate adds up before anything is allocated, holds every buffer they have.
final class WorkspaceSizeTests: XCTestCase {
    /// Scalars in the Float and Double buffers a value holds as stored properties, optional or not.
    func buffers(of value: Any) -> (floats: Int, doubles: Int) {
        Mirror(reflecting: value).children.reduce((0, 0)) { sum, child in
            (sum.0 + ((child.value as? FlatBuffer<Float>)?.count ?? 0),
             sum.1 + ((child.value as? FlatBuffer<Double>)?.count ?? 0))
        }
    }

    func testEveryBufferOfAWorkspaceIsInItsAccount() {
        for cell in [CellType.rnn, .lstm, .gru] {
            for (layers, dropout) in [(1, 0.0), (3, 0.0), (3, 0.25)] {
                let shape = ModelShape(vocabulary: 29, hidden: 24, cell: cell, layers: layers, dropout: dropout)
                let what = "\(cell) × \(layers), dropout \(dropout)"
                let work = Workspace<Float>(shape: shape, steps: 7, rows: 5)
                let size = WorkspaceSize<Int>(shape: shape, steps: 7, rows: 5)
                let layerFloats = work.layers.map { buffers(of: $0).floats }
                XCTAssertEqual(layerFloats.first, layers > 1 ? size.lowerLayer.allocated : size.topLayer.allocated, what)
                XCTAssertEqual(layerFloats.last, size.topLayer.allocated, what)
                XCTAssertEqual(layerFloats.reduce(0, +) + buffers(of: work).floats, size.scalars, what)
                XCTAssertEqual(buffers(of: work).doubles, size.rowLoss, what)
                // Truncated BPTT's buffers, made on first use.
                let truncated = work.layers[0].gradientBuffers(singleSweep: false)
                XCTAssertEqual(truncated.gates.count + (truncated.recurrent?.count ?? 0),
                               size.topLayer.truncatedGates + size.topLayer.truncatedRecurrent, what)
            }
        }
    }

    func testTheAccountInDoubleIsTheAccountInInt() {
        let shape = ModelShape(vocabulary: 65, hidden: 96, cell: .lstm, layers: 2, dropout: 0.5)
        let (exact, estimated) = (WorkspaceSize<Int>(shape: shape, steps: 50, rows: 32),
                                  WorkspaceSize<Double>(shape: shape, steps: 50, rows: 32))
        XCTAssertEqual(Double(exact.scalars), estimated.scalars)
        XCTAssertEqual(Double(exact.rowLoss), estimated.rowLoss)
    }
}
