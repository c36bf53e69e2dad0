import XCTest
import Distributed
import Model
import Training
import TestSupport

/// Training runs in this process that must reach stated losses.
final class TrainingRunTests: XCTestCase {
    /// Seed 003's task: every scored target is a function of the two letters before it, so a
    /// model that learns the rule drives the loss towards 0. The shipped config must get below
    /// 0.05 nats/char (from ln 26 ≈ 3.26 at the start) in its 2,000 steps.
    func testSyntheticTaskIsLearnedToNearZeroLoss() throws {
        var config = try ConfigLoader.load(path: TestPaths.config("synthetic.json"))
        config.log.valEvery = nil
        let summary = try Trainer(config: config, communicator: SingleProcess(), quiet: true).run()
        XCTAssertEqual(summary.steps, 2000)
        XCTAssertLessThan(summary.trainLoss, 0.05)
    }

    /// The gated cells learn the same task (from ln 26 to under 0.05 nats/char in 1,200 steps).
    func testSyntheticTaskIsLearnedByLSTMAndGRU() throws {
        for cell in ["lstm", "gru"] {
            let config = try ConfigLoader.load(path: TestPaths.config("synthetic.json"), overrides: [
                "model.cell=\(cell)", "train.max_steps=1200", "log.val_every=null",
            ])
            let summary = try Trainer(config: config, communicator: SingleProcess(), quiet: true).run()
            XCTAssertLessThan(summary.trainLoss, 0.05, cell)
        }
    }

    /// SPEC §1's reason for gated cells: with the same hidden size (128), optimizer (Adam 0.004),
    /// batch (32 × 50) and 800 steps on Tiny Shakespeare, the LSTM ends with the lower validation
    /// loss. Measured: LSTM 1.828, vanilla tanh RNN 1.871 nats/char (both 1.95 at step 400).
    func testLSTMBeatsTheVanillaRNNOnShakespeare() throws {
        guard let corpus = TestPaths.tinyShakespeare else {
            throw XCTSkip("../shared/data/tinyshakespeare.txt is absent: the LSTM-versus-RNN run is skipped")
        }
        var losses: [String: Double] = [:]
        for cell in ["rnn", "lstm"] {
            let config = try ConfigLoader.load(path: TestPaths.config("berkshire.json"), overrides: [
                "data.path=\(corpus.path)", "model.cell=\(cell)", "model.activation=tanh", "model.hidden_size=128",
                "train.optimizer=adam", "train.lr=0.004", "train.batch_size=32", "train.max_steps=800",
                "log.val_every=800",
            ])
            losses[cell] = try Trainer(config: config, communicator: SingleProcess(), quiet: true).run().validationLoss
        }
        XCTAssertLessThan(try XCTUnwrap(losses["lstm"]), try XCTUnwrap(losses["rnn"]), "\(losses)")
    }

    /// Berkshire settings with tanh on Tiny Shakespeare. After 300 steps the mean loss of steps
    /// 201–300 must be below 2.4 nats/char. Why 2.4: the corpus's character entropy is 3.31
    /// nats (what a model that learned only letter frequencies reaches) and the entropy of a
    /// character given the one before it is 2.45 (the best a bigram model can do on this very
    /// text), so passing needs context carried through the hidden state. Measured: 2.33
    /// training, and PyTorch's one-hot model with uniform init is at ≈2.46 by step 300.
    func testShakespeareLossFallsBelowTheBigramEntropy() throws {
        guard let corpus = TestPaths.tinyShakespeare else {
            throw XCTSkip("../shared/data/tinyshakespeare.txt is absent: the Tiny Shakespeare run is skipped")
        }
        let config = try ConfigLoader.load(path: TestPaths.config("berkshire.json"), overrides: [
            "data.path=\(corpus.path)", "model.activation=tanh", "train.max_steps=300", "log.every=100", "log.val_every=300",
        ])
        let summary = try Trainer(config: config, communicator: SingleProcess(), quiet: true).run()
        XCTAssertEqual(summary.steps, 300)
        XCTAssertLessThan(summary.trainLoss, 2.4)
        XCTAssertLessThan(summary.validationLoss ?? .infinity, 2.45, "validation must beat the bigram entropy too")
    }

    func testSameSeedSameRunAndThreadCountsAgree() throws {
        var config = try ConfigLoader.load(path: TestPaths.config("synthetic.json"),
                                           overrides: ["train.max_steps=30", "log.val_every=null", "log.every=10"])
        config.train.threads = 1
        let one = try Trainer(config: config, communicator: SingleProcess(), quiet: true).run()
        let again = try Trainer(config: config, communicator: SingleProcess(), quiet: true).run()
        XCTAssertEqual(one.parameters, again.parameters, "training is deterministic from the seed")
        config.train.threads = 3
        let threaded = try Trainer(config: config, communicator: SingleProcess(), quiet: true).run()
        // Threads split rows, never a sum's order, except the GEMMs' row blocks: results agree to rounding.
        XCTAssertEqual(threaded.trainLoss, one.trainLoss, accuracy: 1e-5)
    }

    func testBatchSizeThatDoesNotDivideByTheRanksIsAnInputError() throws {
        final class ThreeRanks: Communicator, @unchecked Sendable {
            var rank: Int { 0 }
            var size: Int { 3 }
            var ranksOnNode: Int { 3 }
            func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
            func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingReduction {
                CompletedReduction()
            }
            func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {}
            func abort(code: Int32) -> Never { fatalError() }
            func finalize() {}
        }
        let config = try ConfigLoader.load(path: TestPaths.config("synthetic.json"))
        XCTAssertThrowsError(try Trainer(config: config, communicator: ThreeRanks(), quiet: true)) { error in
            XCTAssertEqual((error as? RNNDistError)?.isInputError, true)
            XCTAssertTrue("\(error)".contains("batch_size 32 does not divide by the 3 ranks"), "\(error)")
        }
    }
}
