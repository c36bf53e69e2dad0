#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One named tensor inside a flat buffer: `count` scalars from `offset`, row-major `shape`.
public struct TensorSpec: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
}

/// The order and shapes of a model's tensors. Parameters, gradients and optimizer state all
/// use one layout, so clipping, the optimizer, the allreduce and a checkpoint are each one
/// loop or one call over a single contiguous buffer (llm.c's design).
public struct ParameterLayout: Sendable, Equatable {
    public private(set) var tensors: [TensorSpec] = []
    public private(set) var count = 0

    public init() {}

    /// Appends a tensor and returns its spec.
    @discardableResult
    public mutating func add(_ name: String, shape: [Int]) -> TensorSpec {
        precondition(!tensors.contains { $0.name == name }, "duplicate tensor \(name)")
        let spec = TensorSpec(name: name, shape: shape, offset: count)
        tensors.append(spec)
        count += spec.count
        return spec
    }

    public subscript(name: String) -> TensorSpec? { tensors.first { $0.name == name } }

    /// The contiguous index ranges that `group`'s tensors cover, adjacent tensors merged, in
    /// layout order: what one reduction of their gradients has to send.
    public func ranges(covering group: [TensorSpec]) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        for tensor in group.sorted(by: { $0.offset < $1.offset }) {
            let range = tensor.offset..<(tensor.offset + tensor.count)
            if let last = ranges.last, last.upperBound == range.lowerBound {
                ranges[ranges.count - 1] = last.lowerBound..<range.upperBound
            } else {
                ranges.append(range)
            }
        }
        return ranges
    }
}

/// An owned, contiguous, zero-initialised buffer of scalars. Pointers it hands out (`base`,
/// `view(_:)`) are valid while the buffer lives; the model and kernels use them only inside
/// calls that hold the buffer.
public final class FlatBuffer<Scalar: BinaryFloatingPoint>: @unchecked Sendable {
    public let count: Int
    public let base: UnsafeMutablePointer<Scalar>
    /// The buffer whose memory this one views (`prefix`), kept alive by it; nil when it owns its own.
    private let owner: FlatBuffer?

    public init(count: Int) {
        self.count = count
        base = .allocateCacheAligned(capacity: count)
        Self.setZeroBits(base, count: max(count, 1))
        owner = nil
    }

    private init(viewing owner: FlatBuffer, count: Int) {
        self.count = count
        base = owner.base
        self.owner = owner
    }

    /// The first `count` scalars of this buffer as a buffer of their own, sharing its memory: a
    /// write through either is seen by both.
    public func prefix(_ count: Int) -> FlatBuffer {
        precondition(count >= 0 && count <= self.count)
        return FlatBuffer(viewing: self, count: count)
    }

    public convenience init(_ values: [Scalar]) {
        self.init(count: values.count)
        for (i, v) in values.enumerated() { base[i] = v }
    }

    deinit { if owner == nil { base.deallocate() } }

    /// The scalars of one tensor of this buffer's layout.
    @inlinable
    public func view(_ tensor: TensorSpec) -> UnsafeMutablePointer<Scalar> {
        precondition(tensor.offset + tensor.count <= count, "tensor \(tensor.name) outside the buffer")
        return base + tensor.offset
    }

    public subscript(index: Int) -> Scalar {
        get { precondition(index >= 0 && index < count); return base[index] }
        set { precondition(index >= 0 && index < count); base[index] = newValue }
    }

    public func zero() { Self.setZeroBits(base, count: count) }

    /// Sets `count` scalars to +0.0 (all bits zero in every IEEE format) with one memset. The
    /// generic `initialize(repeating:)` and `update(repeating:)` ran element by element through
    /// the runtime's value witnesses, since a generic class's methods are compiled unspecialised:
    /// 0.5 % of model A's samples, in the carried state each replica copies every step.
    private static func setZeroBits(_ base: UnsafeMutablePointer<Scalar>, count: Int) {
        memset(base, 0, count * MemoryLayout<Scalar>.stride)
    }

    public var array: [Scalar] { Array(UnsafeBufferPointer(start: base, count: count)) }

    /// The buffer's scalars, lent for the duration of `body` (for I/O and communication).
    public func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Scalar>) throws -> R) rethrows -> R {
        try body(UnsafeMutableBufferPointer(start: base, count: count))
    }
}
