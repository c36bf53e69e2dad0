#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The seam between the trainer and the transport. The trainer sums its gradient buffer
/// through `allreduceSum` and never asks which implementation it has: `SingleProcess` for
/// `--ranks 1`, an MPI one under `mpirun`.
public protocol Communicator: AnyObject, Sendable {
    /// This process's index, 0 ..< size. Rank 0 prints, logs and checkpoints.
    var rank: Int { get }
    /// How many processes train together.
    var size: Int { get }
    /// How many of them share this machine (for the default thread count).
    var ranksOnNode: Int { get }

    /// Replaces every element of `buffer` by its sum over all ranks.
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws

    /// Starts the same sum without waiting for it; the buffer must stay untouched until the
    /// returned reduction's `wait()` returns (or its `test()` returns true).
    func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingReduction

    /// Starts summing `buffer`, bfloat16 values (`BFloat16`), over all ranks without waiting:
    /// each pair of partial sums is added in float32 and rounded to the nearest bfloat16, so
    /// half the bytes of a float32 sum cross the network. The same rules as `startAllreduceSum`.
    func startAllreduceBFloat16Sum(_ buffer: UnsafeMutableBufferPointer<UInt16>) throws -> PendingReduction

    /// Copies `buffer` from `root` to every other rank.
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws

    /// Ends every process of the job with `code`, from any one rank (an error on one rank must
    /// not leave the others waiting in a collective).
    func abort(code: Int32) -> Never

    /// Ends the communicator cleanly, on every rank, after the last collective.
    func finalize()
}

/// A sum in flight (`Communicator.startAllreduceSum`).
public protocol PendingReduction: AnyObject {
    /// Blocks until the sum is in the buffer.
    func wait() throws

    /// Moves the sum along without blocking and says whether it is complete. Over TCP a
    /// non-blocking collective advances only while the process is inside the MPI library, so a
    /// caller with work to do calls this between pieces of it. Only the thread that started the
    /// reduction may call it (MPI_THREAD_FUNNELED).
    func test() throws -> Bool
}

/// A reduction that was complete when it started (one process).
public final class CompletedReduction: PendingReduction {
    public init() {}
    public func wait() throws {}
    public func test() throws -> Bool { true }
}

/// One process, no launcher: every collective is the identity.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var ranksOnNode: Int { 1 }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    public func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingReduction {
        CompletedReduction()
    }
    public func startAllreduceBFloat16Sum(_ buffer: UnsafeMutableBufferPointer<UInt16>) throws -> PendingReduction {
        CompletedReduction()
    }
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {}
    public func abort(code: Int32) -> Never { exit(code) }
    public func finalize() {}
}
