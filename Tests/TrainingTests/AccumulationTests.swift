import XCTest
import Model
import Distributed
import Training
import TestSupport

/// Watches a run: its start notes, every step's event and checkpoint.
final class RunWatcher: TrainingObserver {
    var notes: [String] = []
    var events: [StepEvent] = []
    func runStarted(_ start: RunStart) { notes = start.notes }
    func stepFinished(_ event: StepEvent, trainer: Trainer) { events.append(event) }
    var losses: [Double] { events.map(\.loss) }
    var validationLosses: [Double] { events.compactMap(\.validation?.loss) }
}

/// `train.accumulate`: the same global batch in micro-batches gives the same step.
final class AccumulationTests: XCTestCase {
    /// A 2-layer LSTM with dropout on the generated task (whose masked targets the micro-batches
    /// must carry too), batch 8.
    func config(_ overrides: [String]) throws -> Config {
        try ConfigLoader.load(path: TestPaths.config("synthetic.json"), overrides: [
            "model.cell=lstm", "model.layers=2", "model.hidden_size=24", "model.dropout=0.2", "train.batch_size=8",
            "train.optimizer=adam", "train.lr=0.01", "train.max_steps=12", "log.val_every=6", "checkpoint.every=6",
            "train.threads=1", "data.synthetic_tokens=20000"] + overrides)
    }

    func run(_ overrides: [String], resume: String? = nil) throws -> (RunWatcher, TrainingSummary) {
        let watcher = RunWatcher()
        let summary = try Trainer(config: config(overrides), communicator: SingleProcess(), resume: resume).run(observers: [watcher])
        return (watcher, summary)
    }

    func assertSameRun(_ a: RunWatcher, _ b: RunWatcher, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.losses.count, b.losses.count, what, file: file, line: line)
        for (x, y) in zip(a.losses, b.losses) { XCTAssertEqual(x, y, accuracy: 1e-4 * abs(x), what, file: file, line: line) }
        XCTAssertEqual(a.validationLosses.count, b.validationLosses.count, what, file: file, line: line)
        for (x, y) in zip(a.validationLosses, b.validationLosses) {
            XCTAssertEqual(x, y, accuracy: 1e-4 * abs(x), what, file: file, line: line)
        }
    }

    func testMicroBatchesLogTheLossesOfTheWholeBatch() throws {
        let (whole, reference) = try run([])
        XCTAssertEqual(whole.losses.count, 12)
        for accumulate in [2, 4, 8] {
            let (parts, summary) = try run(["train.accumulate=\(accumulate)"])
            assertSameRun(whole, parts, "accumulate \(accumulate)")
            let worst = zip(reference.parameters, summary.parameters).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 1e-4, "accumulate \(accumulate): parameters drifted")
        }
    }

    /// Threads run replicas, each its share of the rows (`ThreadReplicas`): 2 and 3 threads
    /// (3 shares of 8 rows are uneven; with accumulate 2, of 4), with dropout and the masked
    /// targets, must train as one thread does, to rounding.
    func testThreadReplicasTrainAsOneThreadDoes() throws {
        for accumulate in [1, 2] {
            let (one, reference) = try run(["train.accumulate=\(accumulate)"])
            for threads in [2, 3] {
                let (replicated, summary) = try run(["train.accumulate=\(accumulate)", "train.threads=\(threads)"])
                assertSameRun(one, replicated, "\(threads) threads, accumulate \(accumulate)")
                let worst = zip(reference.parameters, summary.parameters).map { abs($0 - $1) }.max()!
                XCTAssertLessThan(worst, 1e-4, "\(threads) threads, accumulate \(accumulate): parameters drifted")
                XCTAssertNotEqual(reference.parameters, summary.parameters,
                                  "replicas sum their gradients in another order: equal to the bit means they did not run")
            }
        }
    }

    func testABatchThatDoesNotDivideIntoMicroBatchesSaysSo() throws {
        XCTAssertThrowsError(try Trainer(config: config(["train.accumulate=3"]), communicator: SingleProcess())) { error in
            let error = error as! RNNDistError
            XCTAssertTrue(error.isInputError)
            XCTAssertTrue(error.message.contains("train.batch_size 8 does not divide by the 1 ranks × train.accumulate 3"), error.message)
        }
        XCTAssertThrowsError(try config(["train.accumulate=0"])) { error in
            XCTAssertTrue("\(error)".contains("train.accumulate must be an integer >= 1"), "\(error)")
        }
    }

    /// A checkpoint holds the whole batch's state, so a run may resume with another accumulate.
    func testACheckpointResumesWithAnotherAccumulateValue() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (straight, _) = try run(["train.accumulate=2"])
        let (first, _) = try run(["train.accumulate=2", "train.max_steps=6"])
        let path = directory.appendingPathComponent("ckpt.rnnd").path
        try first.events.last!.checkpoint!.checkpoint.encoded().write(to: URL(fileURLWithPath: path))
        let (second, _) = try run(["train.accumulate=4"], resume: path)
        XCTAssertEqual(second.losses.count, 6)
        for (x, y) in zip(straight.losses.suffix(6), second.losses) { XCTAssertEqual(x, y, accuracy: 1e-4 * x) }
    }
}
