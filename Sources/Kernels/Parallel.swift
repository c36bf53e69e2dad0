import Dispatch

/// A pointer that may cross into `DispatchQueue.concurrentPerform` workers. Swift 6 rejects a
/// raw pointer captured by a `@Sendable` closure; the kernels hand one to every worker and each
/// worker writes a disjoint range of it, which is what makes this box safe to mark unchecked.
public struct SendablePointer<Element>: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Element>
    @inlinable public init(_ base: UnsafeMutablePointer<Element>) { self.base = base }
}

/// A read-only twin of `SendablePointer`.
public struct SendableConstPointer<Element>: @unchecked Sendable {
    public let base: UnsafePointer<Element>
    @inlinable public init(_ base: UnsafePointer<Element>) { self.base = base }
}

/// Splits `0..<count` into `parts` contiguous ranges whose bounds are multiples of `grain`
/// (but the last), as even as that allows. Empty ranges are dropped.
@inlinable
public func partition(_ count: Int, parts: Int, grain: Int = 1) -> [Range<Int>] {
    precondition(parts >= 1 && grain >= 1)
    let blocks = (count + grain - 1) / grain
    let used = max(1, min(parts, blocks))
    var ranges: [Range<Int>] = []
    ranges.reserveCapacity(used)
    var start = 0
    for p in 0..<used {
        let endBlock = blocks * (p + 1) / used
        let end = min(count, endBlock * grain)
        if end > start { ranges.append(start..<end) }
        start = end
    }
    return ranges
}

/// Runs `body` once per range of `partition(count, parts: threads, grain:)`, on Dispatch's
/// worker threads when there is more than one range. The ranges are disjoint, so a body that
/// writes only inside its range needs no locking.
@inlinable
public func parallelFor(_ count: Int, threads: Int, grain: Int = 1,
                        _ body: @Sendable (Range<Int>) -> Void) {
    let ranges = partition(count, parts: threads, grain: grain)
    if ranges.count <= 1 {
        if let only = ranges.first { body(only) }
        return
    }
    ranges.withUnsafeBufferPointer { ranges in
        let shared = SendableConstPointer(ranges.baseAddress!)
        DispatchQueue.concurrentPerform(iterations: ranges.count) { body(shared.base[$0]) }
    }
}
