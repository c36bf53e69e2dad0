/// Owned storage for values sent as bfloat16 (`BFloat16`): a float32 buffer's elements are
/// rounded into it, summed over the ranks here, and widened back. The staging area of
/// `train.allreduce_dtype = "bfloat16"`, laid out like the float32 buffer it mirrors.
public final class BFloat16Buffer: @unchecked Sendable {
    public let count: Int
    private let storage: UnsafeMutableBufferPointer<UInt16>

    public init(count: Int) {
        self.count = count
        storage = .allocate(capacity: max(count, 1))
        storage.initialize(repeating: 0)
    }

    deinit { storage.deallocate() }

    /// Rounds `source` into elements `offset ..< offset + source.count` and starts their sum
    /// over every rank. Those elements must stay untouched until the reduction completes.
    public func startSum(of source: UnsafeBufferPointer<Float>, at offset: Int,
                         communicator: Communicator) throws -> PendingReduction {
        precondition(offset >= 0 && offset + source.count <= count, "bfloat16 range outside the buffer")
        let target = UnsafeMutableBufferPointer(rebasing: storage[offset..<(offset + source.count)])
        BFloat16.round(source, into: target)
        return try communicator.startAllreduceBFloat16Sum(target)
    }

    /// Widens elements `offset ..< offset + target.count` (a completed sum) into `target`.
    public func widen(at offset: Int, into target: UnsafeMutableBufferPointer<Float>) {
        precondition(offset >= 0 && offset + target.count <= count, "bfloat16 range outside the buffer")
        BFloat16.widen(UnsafeBufferPointer(rebasing: storage[offset..<(offset + target.count)]), into: target)
    }
}
