// How the kernels split work between threads, apart from running it (`parallelFor`,
// `Parallel.swift`): the ranges and the pointers that cross into workers. No Dispatch here, so
// the register tile's harness (Tests/CrossISA) builds the product with these for any target.

/// A pointer that may cross into `parallelFor`'s workers. Swift 6 rejects a
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

/// Part `index` of `0..<count` split into `parts` contiguous ranges whose bounds are multiples
/// of `grain` (but the last), as even as that allows.
@inlinable
public func partRange(_ index: Int, of count: Int, parts: Int, grain: Int = 1) -> Range<Int> {
    let blocks = (count + grain - 1) / grain
    let start = min(count, blocks * index / parts * grain)
    let end = min(count, blocks * (index + 1) / parts * grain)
    return start..<end
}

/// The non-empty ranges `parallelFor` would hand out (for tests and planning).
@inlinable
public func partition(_ count: Int, parts: Int, grain: Int = 1) -> [Range<Int>] {
    precondition(parts >= 1 && grain >= 1)
    let used = max(1, min(parts, (count + grain - 1) / grain))
    return (0..<used).map { partRange($0, of: count, parts: used, grain: grain) }.filter { !$0.isEmpty }
}

/// How many of `threads` are worth using for `work` units when each thread should get at least
/// `perThread` of them. Handing a range to a worker that has gone to sleep costs 5–40 µs
/// (PERF-NOTES; `WorkerPool`), as much as a small loop itself.
@inlinable
public func usefulThreads(_ threads: Int, work: Int, perThread: Int) -> Int {
    max(1, min(threads, work / max(1, perThread)))
}
