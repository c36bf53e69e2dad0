import Kernels
import Model

/// A rank's threads as replicas of the model, the way ranks are: each thread runs the forward
/// and backward pass of its own share of the rank's rows, with one-thread kernels, into a
/// gradient buffer of its own; the buffers are summed in replica order, piece by piece as the
/// last micro-batch's backward passes finish them (`ReplicaExchange`).
///
/// Rows are independent in the model, so this computes the gradient of the same rows as one
/// thread does (to rounding: the sum's order differs). It replaces splitting each matrix
/// product between the threads, which pays a hand-over and a wait for every product — a
/// hundred per step, each a few microseconds of work for a small model — and ran model A
/// (rnn H 64) with 2 threads no faster than with one, while two processes of one thread ran
/// it 1.8× as fast (a 2-core Xeon, 2026-12-01). A replica's only hand-over is its whole pass.
final class ThreadReplicas: @unchecked Sendable {  // each replica's buffers are used by one thread at a time
    /// Each replica's rows, as offsets inside a micro-batch of `rows` rows.
    let shares: [Range<Int>]
    let workspaces: [Workspace<Float>]
    let gradients: [FlatBuffer<Float>]
    /// The output layer's ranges of the layout: the first piece each replica reports
    /// (`ReplicaExchange`). Found once, not every step: found per step, through
    /// `LanguageModel.gradientBuckets`, they took 18 µs of model A's 1.5 ms step.
    let outputRanges: [Range<Int>]
    private var losses: [LossSum]
    /// The kernels' threads inside one replica: 1. A nested `parallelFor` runs on the replica's
    /// own thread, helped only by threads with nothing else to do (`WorkerPool`): the replicas
    /// split their recurrent weight gradients (`RecurrentLayer.backward`), the last work of a
    /// pass, so that a replica done early helps one that is not.
    let kernelThreads = 1

    /// nil when one replica would do: one thread, or a single row per micro-batch.
    init?(model: LanguageModel<Float>, steps: Int, rows: Int, threads: Int) {
        guard let count = Self.count(threads: threads, rows: rows) else { return nil }
        shares = partition(rows, parts: count)
        workspaces = shares.map { model.makeWorkspace(steps: steps, rows: $0.count) }
        gradients = shares.map { _ in FlatBuffer(count: model.layout.count) }
        outputRanges = model.layout.ranges(covering: model.gradientBuckets[0])
        losses = shares.map { _ in .zero }
    }

    var count: Int { shares.count }

    /// How many replicas `threads` threads run for micro-batches of `rows` rows: one a thread,
    /// at most one a row; nil when that is one (the threads then share each kernel instead).
    /// `MemoryEstimate` counts their buffers by it.
    static func count(threads: Int, rows: Int) -> Int? {
        let count = min(threads, rows)
        return count > 1 ? count : nil
    }

    /// Whether each replica clears its gradient buffer before its next pass (`begin`).
    private var clearsGradients = false

    /// Clears the replicas' loss sums for a new step, and has each replica clear its gradient
    /// buffer at the start of its first pass: on its own thread, in parallel and into its own
    /// core's cache. Cleared here, one buffer after the other, they kept the replicas waiting
    /// 425–435 µs of model B's 70 ms step from the fill to the first pass; now 264–279 (2 × 1.3
    /// MB, AVX2 build, 2 threads).
    func begin() {
        for r in losses.indices { losses[r] = .zero }
        clearsGradients = true
    }

    /// Runs `pass(r, rows)` for every replica r at once, one thread each; `rows` are its rows
    /// of the micro-batch that starts at row `first`. The pass returns its loss sum. This
    /// thread calls `whileWaiting` every few hundred turns of its wait once its replica is
    /// done, until all are.
    func run(first: Int, whileWaiting: (() -> Void)? = nil, _ pass: (_ replica: Int, _ rows: Range<Int>) -> LossSum) {
        withoutActuallyEscaping(pass) { pass in
            let job = Job(replicas: self, first: first, clearsGradients: clearsGradients, pass: pass)
            runOnePartPerThread(count, whileWaiting: whileWaiting) { job.run($0) }
        }
        clearsGradients = false
    }

    /// The replicas' loss sums since `begin`, added in replica order.
    var loss: LossSum {
        losses.reduce(.zero, +)
    }

    /// One `run`'s work, handed to the threads: replica r touches only its own buffers.
    private struct Job: @unchecked Sendable {
        let replicas: ThreadReplicas
        let first: Int
        let clearsGradients: Bool
        let pass: (Int, Range<Int>) -> LossSum

        func run(_ r: Int) {
            if clearsGradients { replicas.gradients[r].zero() }
            let share = replicas.shares[r]
            let loss = pass(r, (first + share.lowerBound)..<(first + share.upperBound))
            replicas.losses[r] += loss
        }
    }
}
