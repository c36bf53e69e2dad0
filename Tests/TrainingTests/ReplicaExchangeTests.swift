import Foundation
import XCTest
import Kernels
import Model
import Distributed
import TestSupport
@testable import Training

/// Thread replicas hand their gradient sums to the step's exchange piece by piece while they
/// run, as one thread's backward pass does (`ReplicaExchange`).
final class ReplicaExchangeTests: XCTestCase {
    /// The exchange ends with the sums of adding the replicas' whole buffers in replica order,
    /// bit for bit; every element is reduced once; the output layer's bucket (with the loss
    /// and token sums) goes first; and, with the other replicas held back 20 ms after their
    /// passes (so that this thread waits, polling), every piece starts its reduction before
    /// the replicas have all ended — without streaming, none would.
    func testReplicaSumsStreamIntoTheExchangeWhileTheReplicasRun() throws {
        let cases: [(String, ModelShape, Int)] = [
            ("gru H 104, 2 layers, 2 replicas", ModelShape(vocabulary: 23, hidden: 104, cell: .gru, layers: 2), 2),
            ("rnn H 160, 3 replicas", ModelShape(vocabulary: 29, hidden: 160), 3),
        ]
        let (T, B) = (7, 11)
        for (name, shape, threads) in cases {
            let (model, parameters, state, batch) = randomStep(shape, steps: T, rows: B, seed: 11)
            let replicas = try XCTUnwrap(ThreadReplicas(model: model, steps: T, rows: B, threads: threads))
            let ranks = IdenticalRanks(size: 1)
            let exchange = StepExchange(layout: model.layout, buckets: model.gradientBuckets, communicator: ranks)
            exchange.begin()
            replicas.begin()
            let streaming = ReplicaExchange(replicas: replicas, exchange: exchange, earlierLoss: .zero, stopVote: { nil })
            let owner = pthread_self()
            replicas.run(first: 0, whileWaiting: streaming.poll) { r, rows in
                let loss = model.run(batch.selecting(rows: rows), parameters: parameters,
                                     state: state.copying(rows: rows, width: shape.stateWidth),
                                     gradients: replicas.gradients[r], work: replicas.workspaces[r], threads: 1,
                                     outputGradientsReady: { streaming.outputFinal(replica: r, loss: $0) },
                                     listener: streaming.listener(replica: r))
                if pthread_equal(pthread_self(), owner) == 0 { usleep(20_000) }
                return loss
            }
            let startedWhileRunning = ranks.reduced.count
            streaming.finish()
            let totals = try exchange.finish()

            var expected = [Float](repeating: 0, count: model.layout.count)
            for buffer in replicas.gradients {
                for i in expected.indices { expected[i] += buffer[i] }
            }
            XCTAssertEqual(exchange.gradients.array, expected, "\(name): not the replicas' sum in replica order")
            XCTAssertTrue(expected.contains { $0 != 0 }, "\(name): the replicas computed no gradient")
            XCTAssertEqual(ranks.reduced.reduce(0, +), model.layout.count + 3, "\(name): each element reduced once")
            XCTAssertEqual(ranks.reduced.first, model.output.tensors.map(\.count).reduce(0, +) + 3,
                           "\(name): the output layer's bucket, with the scalars, goes first")
            XCTAssertEqual(startedWhileRunning, ranks.reduced.count,
                           "\(name): reductions waited for the replicas to end: \(ranks.reduced)")
            XCTAssertGreaterThan(ranks.reduced.count, 4, "\(name): the pieces should be several")
            XCTAssertEqual(totals.tokens, Double(T * B), "\(name): every replica's tokens counted")
            XCTAssertEqual(totals.lossSum, replicas.loss.nats, accuracy: 1e-3 * replicas.loss.nats, "\(name)")
        }
    }

    /// The replicas split their recurrent weight gradients' products (`weightGradientThreads`),
    /// so that a replica done early takes part of another's (`WorkerPool`'s nested jobs): the
    /// gradients are the same, bit for bit, as each replica's alone. The replicas other than
    /// the first start 20 ms late, so that the first is done while they compute dWh (and with 3
    /// replicas, two threads may help at once); the shapes are large enough that dWh's larger
    /// blocks are split (at least 2²³ FMAs each).
    func testReplicasSplittingTheirWeightGradientsChangeNoBit() throws {
        let cases: [(String, ModelShape, Int)] = [
            ("rnn H 256, 2 replicas", ModelShape(vocabulary: 29, hidden: 256), 2),
            ("lstm H 192, 2 layers, 2 replicas", ModelShape(vocabulary: 23, hidden: 192, cell: .lstm, layers: 2), 2),
            ("rnn H 256, 3 replicas", ModelShape(vocabulary: 29, hidden: 256), 3),
        ]
        let (T, B) = (25, 40)
        for (name, shape, threads) in cases {
            let (model, parameters, state, batch) = randomStep(shape, steps: T, rows: B, seed: 5)
            func gradients(weightGradientThreads: Int) throws -> [[Float]] {
                let replicas = try XCTUnwrap(ThreadReplicas(model: model, steps: T, rows: B, threads: threads))
                replicas.begin()
                let ranks = IdenticalRanks(size: 1)
                let exchange = StepExchange(layout: model.layout, buckets: model.gradientBuckets, communicator: ranks)
                exchange.begin()
                let streaming = ReplicaExchange(replicas: replicas, exchange: exchange, earlierLoss: .zero,
                                                stopVote: { nil })
                replicas.run(first: 0, whileWaiting: streaming.poll) { r, rows in
                    if r > 0 { usleep(20_000) }
                    return model.run(batch.selecting(rows: rows), parameters: parameters,
                                     state: state.copying(rows: rows, width: shape.stateWidth),
                                     gradients: replicas.gradients[r], work: replicas.workspaces[r], threads: 1,
                                     weightGradientThreads: weightGradientThreads,
                                     outputGradientsReady: { streaming.outputFinal(replica: r, loss: $0) },
                                     listener: streaming.listener(replica: r))
                }
                streaming.finish()
                _ = try exchange.finish()
                return replicas.gradients.map(\.array)
            }
            let alone = try gradients(weightGradientThreads: 1)
            for attempt in 0..<3 {
                let split = try gradients(weightGradientThreads: threads)
                let differing = zip(split, alone).map { zip($0, $1).filter { $0 != $1 }.count }
                XCTAssertEqual(differing, Array(repeating: 0, count: threads),
                               "\(name), attempt \(attempt): elements that differ, per replica")
            }
            XCTAssertTrue(alone.allSatisfy { $0.contains { $0 != 0 } }, "\(name): a replica computed no gradient")
        }
    }

    /// A model of `shape` with random parameters, carried state and batch.
    func randomStep(_ shape: ModelShape, steps T: Int, rows B: Int, seed: UInt64)
        -> (LanguageModel<Float>, FlatBuffer<Float>, FlatBuffer<Float>, TokenBatch) {
        var random = TestRandom(seed: seed)
        let model = LanguageModel<Float>(shape: shape)
        let parameters = FlatBuffer(random.uniform(model.layout.count, scale: 0.3).map(Float.init))
        let state = FlatBuffer(random.uniform(B * shape.stateWidth, scale: 0.5).map(Float.init))
        let batch = TokenBatch(steps: T, rows: B, inputs: random.tokens(T * B, below: shape.vocabulary),
                               targets: random.tokens(T * B, below: shape.vocabulary))
        return (model, parameters, state, batch)
    }

    /// With more threads than cores the pool's workers sleep as soon as a job ends, instead of
    /// spinning on a core that another rank's thread waits for; otherwise they spin as before.
    func testWorkersSleepAtOnceOnlyWhenThreadsOutnumberTheCores() throws {
        defer { workersSpinWhenIdle = true }
        func makeTrainer(threads: Int) throws {
            let config = try ConfigLoader.load(path: TestPaths.config("synthetic.json"),
                                               overrides: ["train.threads=\(threads)", "data.synthetic_tokens=20000"])
            _ = try Trainer(config: config, communicator: SingleProcess())
        }
        let cores = defaultThreadCount(ranksOnNode: 1)
        try makeTrainer(threads: cores + 1)
        XCTAssertFalse(workersSpinWhenIdle, "\(cores + 1) threads on \(cores) cores")
        try makeTrainer(threads: cores)
        XCTAssertTrue(workersSpinWhenIdle, "\(cores) threads on \(cores) cores")
    }
}
