import Dispatch

/// Runs `body` once per range of `partition(count, parts: threads, grain:)`, on this thread and
/// the `WorkerPool`'s when there is more than one range. The ranges are disjoint, so a body that
/// writes only inside its range needs no locking. Allocates nothing.
@inlinable
public func parallelFor(_ count: Int, threads: Int, grain: Int = 1,
                        _ body: @Sendable (Range<Int>) -> Void) {
    precondition(threads >= 1 && grain >= 1)
    let used = max(1, min(threads, (count + grain - 1) / grain))
    if used == 1 {
        if count > 0 { body(0..<count) }
        return
    }
    WorkerPool.shared.run(parts: used) { index in
        let range = partRange(index, of: count, parts: used, grain: grain)
        if !range.isEmpty { body(range) }
    }
}

/// Whether the pool's idle workers spin for `WorkerPool.spinSeconds` before they sleep (the
/// default) or sleep at once: with more threads than cores (ranks × threads on a node), a
/// spinning worker holds a core another rank's thread is waiting for.
public var workersSpinWhenIdle: Bool {
    get { WorkerPool.shared.spinNanoseconds.load(ordering: .relaxed) > 0 }
    set { WorkerPool.shared.spinNanoseconds.store(newValue ? UInt64(WorkerPool.spinSeconds * 1e9) : 0, ordering: .relaxed) }
}

/// Runs `body(0)`, …, `body(parts − 1)` at once, each on a thread of its own: part 0 on this
/// thread, the others on the `WorkerPool`'s. For a few long parts of equal size (a replica's
/// whole pass), where handing a late worker's part to this thread would run two in a row.
/// `whileWaiting` is called every few hundred turns of this thread's wait between the end of
/// its part and the end of the others' (to keep a network transfer moving, `ReplicaExchange`).
public func runOnePartPerThread(_ parts: Int, whileWaiting: (() -> Void)? = nil, _ body: @Sendable (Int) -> Void) {
    precondition(parts >= 1)
    if parts == 1 { body(0); return }
    WorkerPool.shared.run(parts: parts, onePerThread: true, whileWaiting: whileWaiting, body)
}
