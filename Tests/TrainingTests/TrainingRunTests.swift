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
        let summary = try Trainer(config: config, communicator: SingleProcess()).run()
        XCTAssertEqual(summary.steps, 2000)
        XCTAssertLessThan(summary.trainLoss, 0.05)
    }

    /// The gated cells learn the same task (from ln 26 to under 0.05 nats/char in 1,200 steps).
    func testSyntheticTaskIsLearnedByLSTMAndGRU() throws {
        for cell in ["lstm", "gru"] {
            let config = try ConfigLoader.load(path: TestPaths.config("synthetic.json"), overrides: [
                "model.cell=\(cell)", "train.max_steps=1200", "log.val_every=null",
            ])
            let summary = try Trainer(config: config, communicator: SingleProcess()).run()
            XCTAssertLessThan(summary.trainLoss, 0.05, cell)
        }
    }

    /// SPEC §1's reason for gated cells, on a generated text whose only long-range structure
    /// is known: records `K f…f=K⏎` where the key K (one of 8) comes back after 1–24 random
    /// filler letters (`KeyRecallText`). With the same hidden size (128), optimizer (Adam
    /// 0.004), batch (32 × 50) and 500 steps, the LSTM must end with the lower validation loss,
    /// and below what a model that forgets the key can reach (1.495 nats/char; the entropy
    /// rate is 1.369). Measured: LSTM 1.383, vanilla tanh RNN 1.509.
    func testLSTMBeatsTheVanillaRNNOnALongRangeRecall() throws {
        let process = KeyRecallText()
        let corpus = try writeCorpus(process.generate(count: 400_000, seed: 7), named: "recall.txt",
                                     in: try TestPaths.temporaryDirectory())
        var losses: [String: Double] = [:]
        for cell in ["rnn", "lstm"] {
            let config = try ConfigLoader.load(path: TestPaths.config("berkshire.json"), overrides: [
                "data.path=\(corpus)", "model.cell=\(cell)", "model.activation=tanh", "model.hidden_size=128",
                "train.optimizer=adam", "train.lr=0.004", "train.batch_size=32", "train.max_steps=500",
                "log.val_every=500", "sample.prime=A",
            ])
            losses[cell] = try Trainer(config: config, communicator: SingleProcess()).run().validationLoss
        }
        let lstm = try XCTUnwrap(losses["lstm"])
        XCTAssertLessThan(lstm, try XCTUnwrap(losses["rnn"]), "\(losses)")
        XCTAssertLessThan(lstm, process.forgetfulEntropy, "the LSTM must carry the key across the gap: \(losses)")
    }

    /// Berkshire settings with tanh on a generated text of known statistics: an order-2 Markov
    /// chain over 24 letters in which the letter two back decides which of the previous
    /// letter's four successors is likely (`SecondOrderMarkovText`). After 300 steps the mean
    /// loss of steps 201–300 must be below the text's bigram entropy, 1.166 nats/char (the best
    /// a model that sees only the previous letter can do on this very text; the unigram entropy
    /// is 2.884), so passing needs the letter before, carried in the hidden state; and the
    /// validation loss must be within 0.15 of the chain's entropy rate, 0.914. Measured:
    /// 1.021 training, 1.006 validation.
    func testLossFallsBelowTheBigramEntropyOfASecondOrderChain() throws {
        let text = SecondOrderMarkovText(seed: 3).generate(count: 200_000, seed: 4)
        let statistics = TextStatistics(text)
        let corpus = try writeCorpus(text, named: "markov.txt", in: try TestPaths.temporaryDirectory())
        let config = try ConfigLoader.load(path: TestPaths.config("berkshire.json"), overrides: [
            "data.path=\(corpus)", "model.activation=tanh", "train.max_steps=300", "log.every=100", "log.val_every=300",
            "sample.prime=a",
        ])
        let summary = try Trainer(config: config, communicator: SingleProcess()).run()
        XCTAssertEqual(summary.steps, 300)
        XCTAssertLessThan(summary.trainLoss, statistics.bigramEntropy)
        XCTAssertLessThan(summary.validationLoss ?? .infinity, SecondOrderMarkovText.entropyRate + 0.15,
                          "validation must come near the chain's entropy rate")
    }

    /// The same seed gives the same run to the bit, on one thread or on three. Three threads run
    /// replicas of a share of the rows each, whose gradients are added in replica order: sums
    /// grouped otherwise than one thread's products, so the two thread counts agree to
    /// rounding only, and Adagrad, which divides each gradient by its own size, turns the
    /// rounding of a gradient near zero into a step of any size. On this task (lr 0.05) the
    /// largest parameter (3.7) parts by 1.8e-5 from step 2 on and chaotically from step 9 or 10:
    /// by 0.027 at step 10 and 0.28 in loss at step 30 (the AVX2 tile on a Zen 3, 2026-12-02; the
    /// AVX-512 tile's rounding had happened to stay together to step 30, where this test used
    /// to compare). So three threads are compared with one after 6 steps: the loss within 1e-6
    /// and every parameter within 1e-4. Leaving out one replica's gradient parts them by far
    /// more.
    func testSameSeedSameRunAndThreadCountsAgree() throws {
        var config = try ConfigLoader.load(path: TestPaths.config("synthetic.json"),
                                           overrides: ["train.max_steps=30", "log.val_every=null", "log.every=2"])
        for threads in [1, 3] {
            config.train.threads = threads
            let first = try Trainer(config: config, communicator: SingleProcess()).run()
            let again = try Trainer(config: config, communicator: SingleProcess()).run()
            XCTAssertEqual(first.parameters, again.parameters, "\(threads) thread(s): training is deterministic from the seed")
        }
        config.train.maxSteps = 6
        config.train.threads = 1
        let one = try Trainer(config: config, communicator: SingleProcess()).run()
        config.train.threads = 3
        let threaded = try Trainer(config: config, communicator: SingleProcess()).run()
        XCTAssertEqual(threaded.trainLoss, one.trainLoss, accuracy: 1e-6)
        let largestDifference = zip(one.parameters, threaded.parameters).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThan(largestDifference, 1e-4, "1 and 3 threads after 6 steps")
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
            func startAllreduceBFloat16Sum(_ buffer: UnsafeMutableBufferPointer<UInt16>) throws -> PendingReduction {
                CompletedReduction()
            }
            func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {}
            func abort(code: Int32) -> Never { fatalError() }
            func finalize() {}
        }
        let config = try ConfigLoader.load(path: TestPaths.config("synthetic.json"))
        XCTAssertThrowsError(try Trainer(config: config, communicator: ThreeRanks())) { error in
            XCTAssertEqual((error as? RNNDistError)?.isInputError, true)
            XCTAssertTrue("\(error)".contains("batch_size 32 does not divide by the 3 ranks"), "\(error)")
        }
    }
}
