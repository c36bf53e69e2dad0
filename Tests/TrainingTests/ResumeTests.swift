import XCTest
import Distributed
import Model
import TestSupport
@testable import Training

/// Resume is exact from any step, early stopping, and fine-tuning from a checkpoint.
final class ResumeTests: XCTestCase {
    var directory: URL!
    override func setUpWithError() throws { directory = try TestPaths.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// The synthetic task with every period off the others' grid, a plateau schedule, dropout
    /// and early stopping armed, writing under `name/`.
    func config(_ name: String, _ overrides: [String] = []) throws -> Config {
        let dir = directory.appendingPathComponent(name).path
        return try ConfigLoader.load(path: TestPaths.config("synthetic.json"), overrides: [
            "train.max_steps=40", "log.every=5", "log.val_every=10", "checkpoint.every=20", "sample.every=15",
            "sample.length=10", "train.lr_schedule=plateau", "model.layers=2", "model.dropout=0.1",
            "train.early_stop=50", "train.threads=1", "checkpoint.dir=\(dir)/ckpt", "log.metrics=\(dir)/metrics.jsonl",
        ] + overrides)
    }

    func run(_ config: Config, resume: String? = nil, initFrom: String? = nil,
             stopAtVote vote: Int? = nil) throws -> TrainingSummary {
        let trainer = try Trainer(config: config, communicator: SingleProcess(), resume: resume, initFrom: initFrom)
        if let vote {
            var votes = 0
            trainer.stopRequested = { votes += 1; return votes == vote ? .signal("TEST") : nil }
        }
        return try trainer.run(observers: try trainer.standardObservers(interactive: false))
    }

    /// The metrics lines after `step`, without the timing fields.
    func lines(_ name: String, after step: Int) throws -> [String] {
        try lossLines(in: directory, "\(name)/metrics.jsonl").filter { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return (object["step"] as! Int) > step
        }
    }

    /// Stopped off every grid — by max_steps at 13, by a stop vote at 7 — and resumed, a run
    /// logs every later line and ends with the parameters of a run that never stopped.
    func testAResumeFromAnOffGridStopContinuesExactly() throws {
        let straight = try run(try config("straight"))
        XCTAssertEqual(try lines("straight", after: 0).count, 12, "8 training lines and 4 validations")

        _ = try run(try config("byMaxSteps", ["train.max_steps=13"]))
        let afterMaxSteps = try run(try config("byMaxSteps"), resume: "auto")
        XCTAssertEqual(try lines("byMaxSteps", after: 13), try lines("straight", after: 13))
        XCTAssertEqual(afterMaxSteps.parameters, straight.parameters, "bit-identical parameters")

        let stopped = try run(try config("bySignal"), stopAtVote: 7)
        XCTAssertEqual(stopped.steps, 7)
        let afterSignal = try run(try config("bySignal"), resume: "auto")
        XCTAssertEqual(try lines("bySignal", after: 7), try lines("straight", after: 7))
        XCTAssertEqual(afterSignal.parameters, straight.parameters, "bit-identical parameters")
        // The metrics file holds the first part too: the stop step's own line and the record of
        // the stop after it, then the rest.
        let records = try lossLines(in: directory, "bySignal/metrics.jsonl").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        let firstPart = records.filter { ($0["step"] as! Int) <= 7 }
        XCTAssertEqual(firstPart.map { $0["step"] as! Int }, [5, 7, 7])
        XCTAssertEqual(firstPart.map { $0["stopped"] as? Int }, [nil, nil, 1], "the stop, recorded after its step's line")
    }

    /// A model that cannot improve (a learning rate too small to move a Float) stops after
    /// `early_stop` validations without a new best, checkpointed, with best.rnnd at the best.
    func testEarlyStoppingEndsARunThatStoppedImproving() throws {
        let summary = try run(try config("early", ["train.lr=1e-30", "log.val_every=2", "train.early_stop=2",
                                                   "train.lr_schedule=constant", "model.dropout=0"]))
        XCTAssertEqual(summary.steps, 6, "validations at 2 (best), 4 and 6 (no better)")
        let ckpt = directory.appendingPathComponent("early/ckpt")
        XCTAssertEqual(try Checkpoint.load(path: ckpt.appendingPathComponent("latest").path).header.step, 6)
        let best = try Checkpoint.load(path: ckpt.appendingPathComponent("best.rnnd").path)
        XCTAssertEqual(best.header.step, 2)
        XCTAssertEqual(best.header.validationsSinceBest, 0)
        XCTAssertEqual(try Checkpoint.load(path: ckpt.appendingPathComponent("latest").path).header.validationsSinceBest, 2)
    }

    /// --init-from starts at step 0 from the checkpoint's parameters, with a fresh optimizer
    /// unless train.keep_optimizer; another model is refused, naming it.
    func testFineTuningStartsFromACheckpointsParameters() throws {
        _ = try run(try config("base", ["train.max_steps=20"]))
        let source = directory.appendingPathComponent("base/ckpt").path
        let checkpoint = try Checkpoint.load(path: source + "/latest")

        let fresh = try Trainer(config: try config("tune"), communicator: SingleProcess(), initFrom: source)
        XCTAssertEqual(fresh.step, 0)
        XCTAssertEqual(fresh.parameters.array, checkpoint.parameters)
        XCTAssertEqual(Set(fresh.optimizer.state.array), [0], "a fresh optimizer")
        let kept = try Trainer(config: try config("tune", ["train.keep_optimizer=true"]), communicator: SingleProcess(),
                               initFrom: source)
        XCTAssertEqual(kept.optimizer.state.array, checkpoint.optimizerState)
        XCTAssertEqual(kept.optimizer.steps, checkpoint.header.optimizerSteps)

        XCTAssertThrowsError(try Trainer(config: try config("tune", ["model.hidden_size=64"]), communicator: SingleProcess(),
                                         initFrom: source)) { error in
            XCTAssertEqual((error as? RNNDistError)?.isInputError, true)
            XCTAssertTrue("\(error)".contains("hidden_size 128") && "\(error)".contains("hidden_size 64"), "\(error)")
        }
    }
}
