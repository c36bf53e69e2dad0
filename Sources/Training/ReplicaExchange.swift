import Foundation
import Synchronization
import Kernels
import Model

/// Streams the gradients of thread replicas (`ThreadReplicas`) into the step's exchange the
/// way one thread's backward pass streams its own (`StepExchange`, `GradientListener`), so
/// that a rank with several threads also reduces each piece across the ranks while the rest
/// is computed, instead of after every replica's whole pass.
///
/// Every replica's backward pass reports the same pieces in the same order (the model's shape
/// decides them): first the output layer's bucket, with the replica's loss, then the recurrent
/// layers' pieces. A piece is final for the rank once every replica has reported it. The
/// thread that reports it last adds it up over the replicas, in replica order, into the
/// exchange — the same sums, bit for bit, as adding the replicas' whole buffers — and the
/// thread that began the step, the only one that may call MPI (`MPI_THREAD_FUNNELED`), starts
/// its reduction at that thread's next poll, or while it waits for the other replicas to end.
/// Pieces start in report order, the same on every rank, as MPI's collectives require.
final class ReplicaExchange: @unchecked Sendable {  // shared state behind `progress`; the rest is immutable
    private let replicas: ThreadReplicas
    private let exchange: StepExchange
    /// This rank's loss over the micro-batches before the one being streamed.
    private let earlierLoss: LossSum
    private let stopVote: () -> StopReason?
    private let owner = pthread_self()
    /// The stop vote taken when the output bucket started, on the owner's thread.
    private(set) var vote: StopReason?

    private struct Piece {
        var ranges: [Range<Int>]
        var arrivals = 0
        var summed = false
    }

    private struct Progress {
        var pieces: [Piece] = []
        /// How many pieces each replica has reported.
        var reported: [Int]
        /// Each replica's loss over the streamed micro-batch, reported with its output piece.
        var losses: [LossSum]
        /// Pieces before this index have started their reduction.
        var started = 0
    }

    private let progress: Mutex<Progress>
    /// How many pieces have been summed, in any order: `poll`, called in a spin while the
    /// owner waits for the other replicas, takes the lock only when this has moved.
    private let summedCount = Atomic<Int>(0)
    /// How many pieces `poll` has started (the owner's thread only).
    private var startedCount = 0

    /// To be made on the thread that began the step (`StepExchange.begin`), before the
    /// replicas run the step's last micro-batch; `earlierLoss` is the rank's loss over the
    /// micro-batches before it.
    init(replicas: ThreadReplicas, exchange: StepExchange, earlierLoss: LossSum, stopVote: @escaping () -> StopReason?) {
        self.replicas = replicas
        self.exchange = exchange
        self.earlierLoss = earlierLoss
        self.stopVote = stopVote
        progress = Mutex(Progress(reported: Array(repeating: 0, count: replicas.count),
                                  losses: Array(repeating: .zero, count: replicas.count)))
    }

    /// The listener that replica `r`'s backward pass reports to.
    func listener(replica r: Int) -> GradientListener { ReplicaListener(exchange: self, replica: r) }

    /// Replica `r`'s output layer gradients are final; `loss` is its loss over the micro-batch.
    func outputFinal(replica r: Int, loss: LossSum) {
        report(replica: r, ranges: replicas.outputRanges, loss: loss)
    }

    fileprivate func report(replica r: Int, ranges: [Range<Int>], loss: LossSum? = nil) {
        let (index, last) = progress.withLock { state -> (Int, Bool) in
            let index = state.reported[r]
            state.reported[r] += 1
            if index == state.pieces.count { state.pieces.append(Piece(ranges: ranges)) }
            precondition(state.pieces[index].ranges == ranges, "replicas reported their gradients in different pieces")
            if let loss { state.losses[r] = loss }
            state.pieces[index].arrivals += 1
            return (index, state.pieces[index].arrivals == replicas.count)
        }
        guard last else { return }
        for range in ranges { sumOverReplicas(range) }
        progress.withLock { $0.pieces[index].summed = true }
        summedCount.add(1, ordering: .releasing)
    }

    /// On the owner's thread: starts the reductions of the pieces summed so far, in order, and
    /// moves those in flight along. On any other thread it does nothing.
    func poll() {
        guard pthread_equal(pthread_self(), owner) != 0 else { return }
        while summedCount.load(ordering: .acquiring) > startedCount,
              let (index, piece, losses) = progress.withLock({ state -> (Int, Piece, [LossSum])? in
            guard state.started < state.pieces.count, state.pieces[state.started].summed else { return nil }
            state.started += 1
            return (state.started - 1, state.pieces[state.started - 1], state.losses)
        }) {
            startedCount += 1
            if index == 0 {
                let local = losses.reduce(earlierLoss, +)
                vote = stopVote()
                exchange.record(local, stopVote: vote != nil)
                exchange.startBucket(0)
            } else {
                for range in piece.ranges { exchange.gradientsFinal(range) }
            }
        }
        exchange.poll()
    }

    /// After every replica's pass: starts what is left to start and adds up, into the
    /// exchange, the parts of the gradient no replica reported (whose reduction
    /// `StepExchange.finish` starts).
    func finish() {
        poll()
        let state = progress.withLock { $0 }
        precondition(state.started == state.pieces.count && state.reported.allSatisfy { $0 == state.pieces.count },
                     "a replica's piece was not summed")
        for gap in uncovered(0..<exchange.gradients.count, by: state.pieces.flatMap(\.ranges)) { sumOverReplicas(gap) }
    }

    /// exchange.gradients[range] += Σ_r replica r's gradients[range], r in order.
    private func sumOverReplicas(_ range: Range<Int>) {
        let target = exchange.gradients.base + range.lowerBound
        for source in replicas.gradients {
            add(source.base + range.lowerBound, into: target, count: range.count)
        }
    }
}

/// What replica r's backward pass sees as its `GradientListener`.
private final class ReplicaListener: GradientListener, @unchecked Sendable {
    let exchange: ReplicaExchange
    let replica: Int

    init(exchange: ReplicaExchange, replica: Int) {
        self.exchange = exchange
        self.replica = replica
    }

    func gradientsFinal(_ range: Range<Int>) { exchange.report(replica: replica, ranges: [range]) }
    func poll() { exchange.poll() }
}
