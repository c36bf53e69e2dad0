import XCTest
import Distributed
import Model
import TestSupport
@testable import Training

/// A job of `size` ranks that all hold this rank's numbers: every allreduce multiplies by the
/// size, so a sum reduced twice, or not at all, shows. Records what each reduction sent.
final class IdenticalRanks: Communicator, @unchecked Sendable {
    let size: Int
    var reduced: [Int] = []          // the element counts of every reduction, in order
    init(size: Int) { self.size = size }
    var rank: Int { 0 }
    var ranksOnNode: Int { size }
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        reduced.append(buffer.count)
        for i in buffer.indices { buffer[i] *= Float(size) }
    }
    func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingReduction {
        try allreduceSum(buffer)
        return CompletedReduction()
    }
    func startAllreduceBFloat16Sum(_ buffer: UnsafeMutableBufferPointer<UInt16>) throws -> PendingReduction {
        reduced.append(buffer.count)
        for i in buffer.indices { buffer[i] = BFloat16.bits(rounding: BFloat16.float(buffer[i]) * Float(size)) }
        return CompletedReduction()
    }
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {}
    func abort(code: Int32) -> Never { fatalError("abort \(code)") }
    func finalize() {}
}

final class StepExchangeTests: XCTestCase {
    /// Every gradient is reduced exactly once, whatever the model's tensors, and the scalars
    /// come back as named sums.
    func testEveryGradientIsReducedOnceAndTheScalarsAreSummed() {
        for shape in [ModelShape(vocabulary: 7, hidden: 5, cell: .gru, layers: 2),
                      ModelShape(vocabulary: 11, hidden: 3, cell: .lstm, layers: 3),
                      ModelShape(vocabulary: 4, hidden: 6)] {
            let model = LanguageModel<Float>(shape: shape)
            let ranks = IdenticalRanks(size: 3)
            let exchange = StepExchange(layout: model.layout, buckets: model.gradientBuckets, communicator: ranks)
            XCTAssertEqual(exchange.gradients.count, model.layout.count, "the gradients are exactly the parameters")
            exchange.begin()
            for i in 0..<exchange.gradients.count { exchange.gradients[i] = Float(i % 97) + 0.5 }
            exchange.record(LossSum(nats: 2.25, tokens: 40), stopVote: true)
            exchange.startBucket(0)
            let totals = try! exchange.finish()
            for i in 0..<exchange.gradients.count {
                XCTAssertEqual(exchange.gradients[i], 3 * (Float(i % 97) + 0.5), "\(shape.cell) gradient \(i)")
            }
            XCTAssertEqual(totals, StepTotals(lossSum: 6.75, tokens: 120, stopVotes: 3))
            XCTAssertEqual(ranks.reduced.reduce(0, +), model.layout.count + 3, "each scalar of the buffer sent once")
            XCTAssertEqual(ranks.reduced.first, model.output.tensors.map(\.count).reduce(0, +) + 3,
                           "the output layer's bucket, with the scalars, goes first")
        }
    }

    func testABucketNotStartedDuringBackwardIsReducedByFinish() throws {
        let model = LanguageModel<Float>(shape: ModelShape(vocabulary: 5, hidden: 4))
        let exchange = StepExchange(layout: model.layout, buckets: model.gradientBuckets, communicator: IdenticalRanks(size: 2))
        exchange.begin()
        exchange.gradients.base.update(repeating: 1, count: exchange.gradients.count)
        exchange.record(LossSum(nats: 1, tokens: 1), stopVote: false)
        let totals = try exchange.finish()
        XCTAssertEqual(Set(exchange.gradients.array), [2])
        XCTAssertFalse(totals.stopRequested)
        exchange.begin()
        XCTAssertEqual(Set(exchange.gradients.array), [0], "begin clears the sums")
    }
}

/// The exchange as the backward pass drives it: pieces reported final, polls, and bfloat16.
final class StreamedExchangeTests: XCTestCase {
    /// Ranges reported by the listener are reduced once each, and `finish` reduces exactly the
    /// rest: every element is summed once, in any split.
    func testReportedRangesAndTheRestAreEachReducedOnce() throws {
        let model = LanguageModel<Float>(shape: ModelShape(vocabulary: 9, hidden: 6, cell: .gru, layers: 2))
        let ranks = IdenticalRanks(size: 2)
        let exchange = StepExchange(layout: model.layout, buckets: model.gradientBuckets, communicator: ranks)
        exchange.begin()
        for i in 0..<exchange.gradients.count { exchange.gradients[i] = Float(i % 13) }
        exchange.record(LossSum(nats: 1.5, tokens: 8), stopVote: false)
        exchange.startBucket(0)
        let wh = model.layers[1].recurrentWeight
        exchange.gradientsFinal(wh.offset..<(wh.offset + 7))
        exchange.poll()
        exchange.gradientsFinal((wh.offset + 7)..<(wh.offset + wh.count))
        let totals = try exchange.finish()
        XCTAssertEqual(exchange.gradients.array, (0..<exchange.gradients.count).map { 2 * Float($0 % 13) })
        XCTAssertEqual(totals, StepTotals(lossSum: 3, tokens: 16, stopVotes: 0))
        XCTAssertEqual(ranks.reduced.reduce(0, +), model.layout.count + 3)
        XCTAssertEqual(Array(ranks.reduced[1...2]), [7, wh.count - 7], "the reported pieces, in the order reported")
    }

    /// A range larger than one message (48 KB on the wire) goes as pieces of at most 48 KB,
    /// each reduced once, in order.
    func testLargeRangesGoAsPiecesUnderTheEagerLimit() throws {
        let model = LanguageModel<Float>(shape: ModelShape(vocabulary: 5, hidden: 200))   // Wh: 40,000 values
        let wh = model.layers[0].recurrentWeight
        for (type, bytes) in [(AllreduceType.float32, 4), (.bfloat16, 2)] {
            let ranks = IdenticalRanks(size: 2)
            let exchange = StepExchange(layout: model.layout, buckets: model.gradientBuckets, communicator: ranks, type: type)
            exchange.begin()
            for i in 0..<exchange.gradients.count { exchange.gradients[i] = Float(i % 5) }
            exchange.record(LossSum(nats: 1, tokens: 1), stopVote: false)
            exchange.gradientsFinal(wh.offset..<(wh.offset + wh.count))
            exchange.startBucket(0)
            _ = try exchange.finish()
            XCTAssertEqual(exchange.gradients.array, (0..<exchange.gradients.count).map { 2 * Float($0 % 5) }, "\(type)")
            let most = 49_152 / bytes
            let pieces = stride(from: 0, to: wh.count, by: most).map { min(most, wh.count - $0) }
            XCTAssertEqual(Array(ranks.reduced.prefix(pieces.count)), pieces, "\(type): dWh in pieces of at most 48 KB, in order")
            XCTAssertTrue(ranks.reduced.allSatisfy { $0 <= most }, "\(type): \(ranks.reduced)")
        }
    }

    /// With bfloat16 the gradients come back as the bfloat16 sum of their rounded values and
    /// the scalars exact (float32, a message of their own), whatever their size.
    func testBFloat16RoundsTheGradientsAndKeepsTheScalarsExact() throws {
        let model = LanguageModel<Float>(shape: ModelShape(vocabulary: 5, hidden: 4))
        let ranks = IdenticalRanks(size: 3)
        let exchange = StepExchange(layout: model.layout, buckets: model.gradientBuckets, communicator: ranks, type: .bfloat16)
        exchange.begin()
        let values = (0..<exchange.gradients.count).map { Float($0) * 0.1234567 - 1.5 }
        for (i, value) in values.enumerated() { exchange.gradients[i] = value }
        exchange.record(LossSum(nats: 123_456.5, tokens: 1_000_001), stopVote: true)
        exchange.startBucket(0)
        let totals = try exchange.finish()
        for (i, value) in values.enumerated() {
            let expected = BFloat16.float(BFloat16.bits(rounding: BFloat16.float(BFloat16.bits(rounding: value)) * 3))
            XCTAssertEqual(exchange.gradients[i], expected, "gradient \(i)")
            XCTAssertEqual(exchange.gradients[i], 3 * value, accuracy: abs(3 * value) / 128 + 1e-7)
        }
        XCTAssertEqual(totals, StepTotals(lossSum: Double(Float(123_456.5)) * 3, tokens: 3_000_003, stopVotes: 3))
        XCTAssertTrue(ranks.reduced.contains(3), "the scalars travel as float32 on their own: \(ranks.reduced)")
    }
}

final class BFloat16Tests: XCTestCase {
    /// Round to nearest, ties to even, against the definition: the nearer of the two bfloat16
    /// neighbours, the even one at a tie.
    func testRoundingIsToNearestEven() {
        var random = RandomSource(seed: 16)
        var samples: [Float] = [0, -0, 1, -1, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 3.0e38, -3.4e38,
                                Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000),   // ties: down to even, up to even
                                Float(bitPattern: 0x3F80_8001), Float(bitPattern: 0x3F80_7FFF)]
        for _ in 0..<10_000 { samples.append(Float(bitPattern: UInt32(truncatingIfNeeded: random.next()))) }
        for x in samples where x.isFinite {
            let down = UInt16(x.bitPattern >> 16), up = down &+ 1
            // Past the largest finite bfloat16 the next "value" is 2¹²⁸, where IEEE rounding puts
            // the overflow threshold.
            let high = up & 0x7FFF == 0x7F80 ? (x < 0 ? -0x1p128 : 0x1p128) : Double(BFloat16.float(up))
            let (toLow, toHigh) = (abs(Double(x) - Double(BFloat16.float(down))), abs(Double(x) - high))
            let expected = toLow < toHigh || (toLow == toHigh && down % 2 == 0) ? down : up
            XCTAssertEqual(BFloat16.bits(rounding: x), expected, "\(x) (0x\(String(x.bitPattern, radix: 16)))")
        }
        XCTAssertEqual(BFloat16.bits(rounding: Float(bitPattern: 0x3F80_8000)), 0x3F80)
        XCTAssertEqual(BFloat16.bits(rounding: Float(bitPattern: 0x3F81_8000)), 0x3F82)
        XCTAssertEqual(BFloat16.float(BFloat16.bits(rounding: .greatestFiniteMagnitude)), .infinity, "past the largest bfloat16")
        XCTAssertEqual(BFloat16.float(BFloat16.bits(rounding: -.infinity)), -.infinity)
        XCTAssertTrue(BFloat16.float(BFloat16.bits(rounding: .nan)).isNaN)
        XCTAssertTrue(BFloat16.float(BFloat16.bits(rounding: Float(bitPattern: 0x7F80_0001))).isNaN, "a NaN whose payload is low bits")
    }
}

final class StepPolicyTests: XCTestCase {
    func testNonFiniteStepsAreSkippedUntilTheLimitInARow() {
        var policy = BadStepPolicy(allowed: 3)
        XCTAssertEqual(policy.judge(loss: 1, gradientNorm: 2), .update)
        XCTAssertEqual(policy.judge(loss: .nan, gradientNorm: 2), .skip(SkippedStep(what: "loss", inARow: 1, allowed: 3)))
        XCTAssertEqual(policy.judge(loss: 1, gradientNorm: .infinity), .skip(SkippedStep(what: "gradient", inARow: 2, allowed: 3)))
        XCTAssertEqual(policy.judge(loss: 1, gradientNorm: 1), .update, "a good step resets the count")
        _ = policy.judge(loss: .nan, gradientNorm: 1)
        _ = policy.judge(loss: .nan, gradientNorm: 1)
        XCTAssertEqual(policy.judge(loss: .nan, gradientNorm: .nan), .stop(what: "loss", inARow: 3))
    }

    func testThePlateauRuleHalvesTheRateOnlyWhenValidationLossRises() {
        var rate = LearningRate(schedule: .halveOnPlateau, base: 0.1)
        var history = ValidationHistory()
        for (loss, expected) in [(2.0, 0.1), (1.5, 0.1), (1.7, 0.05), (1.6, 0.05), (1.9, 0.025)] {
            _ = rate.afterValidation(previous: history.last, latest: loss)
            _ = history.record(loss)
            XCTAssertEqual(rate.prepareUpdate(afterSteps: 10), expected, "after validation loss \(loss)")
        }
        XCTAssertEqual(history, ValidationHistory(last: 1.9, best: 1.5, sinceBest: 3))
    }

    func testTheStepScheduleDependsOnTheStepAlone() {
        var rate = LearningRate(schedule: .stepDecay(factor: 0.5, every: 100), base: 0.2)
        XCTAssertEqual(rate.prepareUpdate(afterSteps: 99), 0.2)
        XCTAssertEqual(rate.prepareUpdate(afterSteps: 100), 0.1)
        XCTAssertNil(rate.afterValidation(previous: 1, latest: 2), "validation does not move a step schedule")
        XCTAssertEqual(rate.prepareUpdate(afterSteps: 250), 0.05)
    }
}

/// Keeps every event of a run.
final class EventRecorder: TrainingObserver {
    var events: [StepEvent] = []
    var finished: TrainingSummary?
    func stepFinished(_ event: StepEvent, trainer: Trainer) { events.append(event) }
    func runFinished(_ summary: TrainingSummary) { finished = summary }
}

final class TrainingLoopTests: XCTestCase {
    func synthetic(_ overrides: [String]) throws -> Config {
        try ConfigLoader.load(path: TestPaths.config("synthetic.json"),
                              overrides: ["train.max_steps=12", "log.every=5", "log.val_every=6", "checkpoint.every=4",
                                          "train.threads=1"] + overrides)
    }

    /// The loop tells its observers what happened, and observing changes nothing it computes.
    func testObserversSeeEveryStepAndDoNotChangeTheRun() throws {
        let config = try synthetic([])
        let recorder = EventRecorder()
        let observed = try Trainer(config: config, communicator: SingleProcess()).run(observers: [recorder])
        let silent = try Trainer(config: config, communicator: SingleProcess()).run()
        XCTAssertEqual(observed.parameters, silent.parameters)
        XCTAssertEqual(recorder.events.map(\.step), Array(1...12))
        XCTAssertEqual(recorder.events.compactMap { $0.report == nil ? nil : $0.step }, [5, 10, 12])
        XCTAssertEqual(recorder.events.compactMap { $0.validation == nil ? nil : $0.step }, [6, 12])
        // Every checkpoint.every steps, at the end, and at each new best validation (6: the first).
        XCTAssertEqual(recorder.events.compactMap { $0.checkpoint == nil ? nil : $0.step }, [4, 6, 8, 12])
        XCTAssertEqual(recorder.events.filter(\.isLast).map(\.step), [12])
        XCTAssertEqual(recorder.events.last?.checkpoint?.checkpoint.parameters, observed.parameters)
        XCTAssertEqual(recorder.finished?.validationLoss, recorder.events.last?.validation?.loss)
        XCTAssertEqual(recorder.events.last?.validation?.loss, observed.validationLoss)
        // The mean of a log interval is the token-weighted mean of its steps.
        let interval = recorder.events[5..<10]
        let mean = interval.map { $0.loss * Double($0.tokens) }.reduce(0, +) / Double(interval.map(\.tokens).reduce(0, +))
        XCTAssertEqual(recorder.events[9].report!.loss, mean, accuracy: 1e-6)
    }

    /// A stop vote ends the run after that step with a log line and a checkpoint, on the step
    /// the vote was cast in.
    func testAStopVoteEndsTheRunAfterThatStepWithACheckpoint() throws {
        let trainer = try Trainer(config: try synthetic([]), communicator: SingleProcess())
        var votes = 0
        trainer.stopRequested = {
            votes += 1
            return votes == 3 ? .signal("TEST") : nil
        }
        let recorder = EventRecorder()
        let summary = try trainer.run(observers: [recorder])
        XCTAssertEqual(summary.steps, 3)
        let last = try XCTUnwrap(recorder.events.last)
        XCTAssertEqual(last.stop, .signal("TEST"))
        XCTAssertNotNil(last.report)
        XCTAssertEqual(last.checkpoint?.checkpoint.header.step, 3)
    }

    /// `eval`'s path — a model loaded from a checkpoint, the config's data, no trainer — gives
    /// the validation loss the run reported.
    func testATrainedModelEvaluatesAsTheTrainerValidated() throws {
        let config = try synthetic([])
        let recorder = EventRecorder()
        let summary = try Trainer(config: config, communicator: SingleProcess()).run(observers: [recorder])
        let checkpoint = try XCTUnwrap(recorder.events.last?.checkpoint?.checkpoint)
        let trained = try TrainedModel(checkpoint: Checkpoint.decode(checkpoint.encoded(), path: "memory"), path: "memory")
        let data = try TrainingData(config: config)
        let loss = try trained.validationLoss(on: data, communicator: SingleProcess(), threads: 2)
        XCTAssertEqual(loss, summary.validationLoss)
    }
}
