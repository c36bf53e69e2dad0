import Foundation
import Distributed
import Model

/// What one training step sends between the ranks, and the one place that knows how: the
/// gradient sums of this rank's rows, its loss sum, its token count and its stop vote go in;
/// the same sums over every rank come out.
///
/// The gradients are reduced in buckets, each started as soon as the model has finished its
/// tensors (`LanguageModel.gradientBuckets`), so the output layer's travel while BPTT runs.
/// The three scalars ride in the reduction of whichever bucket ends the layout, right after
/// its gradients in one buffer, so they cost no message of their own:
///
///     buffer = [ gradients (n, the parameters' layout) | loss sum | token count | stop votes ]
///
/// One step: `begin`, then the model's backward pass adds into `gradients`, `record` the
/// local scalars and `startBucket` each bucket as it becomes final, then `finish`.
public final class StepExchange {
    /// ∂loss/∂parameters, summed over this rank's rows until `finish` and over all ranks
    /// after it: exactly the parameters' layout, for clipping and the optimizer.
    public let gradients: FlatBuffer<Float>
    private let buffer: FlatBuffer<Float>
    private let communicator: Communicator
    /// Per bucket, the ranges of `buffer` one reduction each sends, in the order started.
    private let bucketRanges: [[Range<Int>]]
    private var pending: [[PendingReduction]]
    private var started: [Bool]
    private var failure: Error?
    private var recorded = false
    /// Seconds this step spent starting and waiting for reductions (what the step waited).
    public private(set) var communicationSeconds = 0.0

    private enum Scalar: Int, CaseIterable { case lossSum, tokenCount, stopVotes }

    /// `buckets`: the layout's tensors grouped in the order their gradients become final; every
    /// tensor belongs to exactly one bucket.
    public init(layout: ParameterLayout, buckets: [[TensorSpec]], communicator: Communicator) {
        let n = layout.count
        precondition(buckets.flatMap { $0 }.sorted { $0.offset < $1.offset } == layout.tensors,
                     "every tensor must belong to exactly one gradient bucket")
        buffer = FlatBuffer(count: n + Scalar.allCases.count)
        gradients = buffer.prefix(n)
        self.communicator = communicator
        bucketRanges = buckets.map { bucket in
            layout.ranges(covering: bucket).map { $0.upperBound == n ? $0.lowerBound..<(n + Scalar.allCases.count) : $0 }
        }
        pending = bucketRanges.map { _ in [] }
        started = bucketRanges.map { _ in false }
    }

    /// Clears the sums for a new step.
    public func begin() {
        buffer.zero()
        pending = bucketRanges.map { _ in [] }
        started = bucketRanges.map { _ in false }
        failure = nil
        recorded = false
        communicationSeconds = 0
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
        precondition(!started[index], "bucket \(index) started twice")
        precondition(recorded || !carriesScalars(index), "record the step's scalars before their bucket starts")
        started[index] = true
        let start = Date()
        do {
            pending[index] = try bucketRanges[index].map { range in
                try buffer.withUnsafeMutableBufferPointer {
                    try communicator.startAllreduceSum(UnsafeMutableBufferPointer(rebasing: $0[range]))
                }
            }
        } catch {
            failure = failure ?? error
        }
        communicationSeconds += Date().timeIntervalSince(start)
    }

    /// Reduces the buckets not started yet, waits for all, and returns the step's global sums.
    public func finish() throws -> StepTotals {
        precondition(recorded, "record the step's scalars before finishing it")
        let start = Date()
        defer { communicationSeconds += Date().timeIntervalSince(start) }
        if let failure { throw failure }
        for index in bucketRanges.indices where !started[index] {
            for range in bucketRanges[index] {
                try buffer.withUnsafeMutableBufferPointer {
                    try communicator.allreduceSum(UnsafeMutableBufferPointer(rebasing: $0[range]))
                }
            }
        }
        for reduction in pending.joined() { try reduction.wait() }
        let n = gradients.count
        return StepTotals(lossSum: Double(buffer[n + Scalar.lossSum.rawValue]),
                          tokens: Double(buffer[n + Scalar.tokenCount.rawValue]),
                          stopVotes: Int(buffer[n + Scalar.stopVotes.rawValue]))
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
