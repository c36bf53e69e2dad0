import Foundation
import Distributed
import Model

/// How gradients cross the network (`train.allreduce_dtype`). `bfloat16` rounds each rank's
/// gradient sums to bfloat16 (`BFloat16`, nearest even), and each pair of partial sums is added
/// in float32 and rounded again: half the bytes of `float32`, results that differ in the last
/// bits (8 significant bits per value instead of 24). The loss, token and stop sums always
/// travel as float32.
public enum AllreduceType: String, Sendable, CaseIterable {
    case float32, bfloat16
}

/// What one training step sends between the ranks, and the one place that knows how: the
/// gradient sums of this rank's rows, its loss sum, its token count and its stop vote go in;
/// the same sums over every rank come out.
///
/// Every part of the gradient is reduced, without blocking, as soon as it is final: the output
/// layer's bucket (`LanguageModel.gradientBuckets`) before BPTT starts, the recurrent layers'
/// piece by piece as the backward pass reports them (`GradientListener`), and the backward pass
/// polls the exchange so those reductions move while it computes (over TCP a non-blocking
/// collective advances only inside MPI calls). The three scalars ride in the reduction of the
/// bucket that ends the layout, right after its gradients in one buffer, so they cost no
/// message of their own (with `bfloat16` they go as a float32 message beside it):
///
///     buffer = [ gradients (n, the parameters' layout) | loss sum | token count | stop votes ]
///
/// One step: `begin`, then the model's backward pass adds into `gradients`, `record` the local
/// scalars and `startBucket(0)`, the listener calls, then `finish`, which reduces whatever was
/// not started and waits for the rest. Every rank starts the same reductions in the same order
/// (the model's shape decides them), as MPI's collectives require.
///
/// `communicationSeconds` is what the step spent inside the communicator: starting and
/// polling reductions, and waiting in `finish` for those still in flight — the time the step
/// did not compute because of the network.
public final class StepExchange: GradientListener, @unchecked Sendable {
    /// ∂loss/∂parameters, summed over this rank's rows until `finish` and over all ranks
    /// after it: exactly the parameters' layout, for clipping and the optimizer.
    public let gradients: FlatBuffer<Float>
    public let type: AllreduceType
    private let buffer: FlatBuffer<Float>
    /// The gradients as sent, with `bfloat16`.
    private let wire: BFloat16Buffer?
    private let communicator: Communicator
    /// Per bucket, the ranges of `buffer` it covers.
    private let bucketRanges: [[Range<Int>]]
    /// Reductions in flight or done this step, in the order started.
    private var reductions: [Reduction] = []
    /// Reductions before this index have completed.
    private var firstIncomplete = 0
    private var failure: Error?
    private var recorded = false
    /// The thread that began the step: the only one that may call MPI (MPI_THREAD_FUNNELED),
    /// and so the only one on which `poll` does anything.
    private var owner = pthread_self()
    /// Seconds this step spent in the communicator (above).
    public private(set) var communicationSeconds = 0.0

    private enum Scalar: Int, CaseIterable { case lossSum, tokenCount, stopVotes }

    private struct Reduction {
        let range: Range<Int>          // of `buffer`
        let pending: PendingReduction
        let onWire: Bool               // sent as bfloat16 through `wire`: widened when complete
    }

    /// `buckets`: the layout's tensors grouped in the order their gradients become final; every
    /// tensor belongs to exactly one bucket.
    public init(layout: ParameterLayout, buckets: [[TensorSpec]], communicator: Communicator,
                type: AllreduceType = .float32) {
        let n = layout.count
        precondition(buckets.flatMap { $0 }.sorted { $0.offset < $1.offset } == layout.tensors,
                     "every tensor must belong to exactly one gradient bucket")
        buffer = FlatBuffer(count: n + Scalar.allCases.count)
        gradients = buffer.prefix(n)
        self.type = type
        wire = type == .bfloat16 ? BFloat16Buffer(count: n) : nil
        self.communicator = communicator
        bucketRanges = buckets.map { bucket in
            layout.ranges(covering: bucket).map { $0.upperBound == n ? $0.lowerBound..<(n + Scalar.allCases.count) : $0 }
        }
    }

    /// Clears the sums for a new step.
    public func begin() {
        buffer.zero()
        reductions = []
        firstIncomplete = 0
        failure = nil
        recorded = false
        communicationSeconds = 0
        owner = pthread_self()
    }

    /// This rank's loss sum and token count, and whether it asks the job to stop after this step.
    public func record(_ local: LossSum, stopVote: Bool) {
        buffer[gradients.count + Scalar.lossSum.rawValue] = Float(local.nats)
        buffer[gradients.count + Scalar.tokenCount.rawValue] = Float(local.tokens)
        buffer[gradients.count + Scalar.stopVotes.rawValue] = stopVote ? 1 : 0
        recorded = true
    }

    /// Starts reducing bucket `index`, whose gradients are final, without waiting. Called from
    /// inside the model's backward pass, so a failure is kept and thrown by `finish`.
    public func startBucket(_ index: Int) {
        precondition(recorded || !carriesScalars(index), "record the step's scalars before their bucket starts")
        timed { for range in bucketRanges[index] { start(range) } }
    }

    /// `GradientListener`: starts reducing `range` of the gradients, which the backward pass
    /// will not write again this step.
    public func gradientsFinal(_ range: Range<Int>) {
        precondition(range.upperBound <= gradients.count, "a gradient range past the gradients")
        timed { start(range) }
    }

    /// `GradientListener`: moves the reductions in flight along, in the order started, on the
    /// thread that began the step (on any other thread it returns at once).
    public func poll() {
        guard firstIncomplete < reductions.count, pthread_equal(pthread_self(), owner) != 0 else { return }
        timed {
            do {
                while firstIncomplete < reductions.count, try reductions[firstIncomplete].pending.test() {
                    firstIncomplete += 1
                }
            } catch {
                failure = failure ?? error
            }
        }
    }

    /// Reduces what was not started yet, waits for all, and returns the step's global sums.
    public func finish() throws -> StepTotals {
        precondition(recorded, "record the step's scalars before finishing it")
        let start = Date()
        defer { communicationSeconds += Date().timeIntervalSince(start) }
        for gap in unstarted() { self.start(gap) }
        if let failure { throw failure }
        for reduction in reductions { try reduction.pending.wait() }
        if let wire {
            for reduction in reductions where reduction.onWire {
                buffer.withUnsafeMutableBufferPointer {
                    wire.widen(at: reduction.range.lowerBound, into: UnsafeMutableBufferPointer(rebasing: $0[reduction.range]))
                }
            }
        }
        let n = gradients.count
        return StepTotals(lossSum: Double(buffer[n + Scalar.lossSum.rawValue]),
                          tokens: Double(buffer[n + Scalar.tokenCount.rawValue]),
                          stopVotes: Int(buffer[n + Scalar.stopVotes.rawValue]))
    }

    /// Starts the reduction of `range` of the buffer: with `bfloat16`, its gradients through
    /// `wire` and its scalars, if any, as float32. A failure is kept for `finish`.
    private func start(_ range: Range<Int>) {
        precondition(!reductions.contains { $0.range.overlaps(range) }, "a gradient range reduced twice in one step")
        if range.count > messageElements {
            for first in stride(from: range.lowerBound, to: range.upperBound, by: messageElements) {
                start(first..<min(first + messageElements, range.upperBound))
            }
            return
        }
        guard !range.isEmpty else { return }
        let n = gradients.count
        do {
            if let wire {
                let (sent, scalars) = (range.clamped(to: 0..<n), range.clamped(to: n..<buffer.count))
                if !sent.isEmpty {
                    let pending = try buffer.withUnsafeMutableBufferPointer {
                        try wire.startSum(of: UnsafeBufferPointer(rebasing: $0[sent]), at: sent.lowerBound, communicator: communicator)
                    }
                    reductions.append(Reduction(range: sent, pending: pending, onWire: true))
                }
                if !scalars.isEmpty { try startFloat32(scalars) }
            } else {
                try startFloat32(range)
            }
        } catch {
            failure = failure ?? error
        }
    }

    /// The most elements one reduction carries: 48 KB on the wire, under OpenMPI's TCP eager
    /// limit (64 KB with its header), so that each message goes out at once. A larger one
    /// (the output layer's or the input weights' 130 KB in model B) waits for a rendezvous
    /// handshake, round trips that advance only while both ranks are inside MPI. Over two
    /// hosts at 1 Gbit/s (model B, three interleaved pairs of 60-step runs) the step's comm_s
    /// was 10.4–11.9 ms with 48 KB pieces against 11.6–25.4 ms without.
    /// `RecurrentLayer.recurrentGradientBlocks` sizes dWh's last block the same way.
    private var messageElements: Int { wire == nil ? 12_288 : 24_576 }

    private func startFloat32(_ range: Range<Int>) throws {
        let pending = try buffer.withUnsafeMutableBufferPointer {
            try communicator.startAllreduceSum(UnsafeMutableBufferPointer(rebasing: $0[range]))
        }
        reductions.append(Reduction(range: range, pending: pending, onWire: false))
    }

    /// The parts of the buffer no reduction covers yet, in order: the same on every rank.
    private func unstarted() -> [Range<Int>] {
        uncovered(0..<buffer.count, by: reductions.map(\.range))
    }

    private func timed(_ body: () -> Void) {
        let start = Date()
        body()
        communicationSeconds += Date().timeIntervalSince(start)
    }

    private func carriesScalars(_ index: Int) -> Bool {
        bucketRanges[index].contains { $0.upperBound == buffer.count }
    }
}

/// One step's sums over every rank (`StepExchange.finish`).
public struct StepTotals: Sendable, Equatable {
    /// Σ −log p(target), nats, over every scored position of the global batch.
    public var lossSum: Double
    /// How many positions were scored.
    public var tokens: Double
    /// How many ranks asked to stop after this step; one is enough.
    public var stopVotes: Int

    public var meanLoss: Double { lossSum / max(tokens, 1) }
    public var stopRequested: Bool { stopVotes > 0 }
}

/// The parts of `whole` that none of `ranges` (each inside `whole`) covers, in order: what the
/// exchange has still to reduce, and what no replica reported (`ReplicaExchange.finish`).
func uncovered(_ whole: Range<Int>, by ranges: [Range<Int>]) -> [Range<Int>] {
    var gaps: [Range<Int>] = []
    var next = whole.lowerBound
    for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
        if range.lowerBound > next { gaps.append(next..<range.lowerBound) }
        next = max(next, range.upperBound)
    }
    if next < whole.upperBound { gaps.append(next..<whole.upperBound) }
    return gaps
}
