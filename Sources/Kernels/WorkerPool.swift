import Foundation
import Synchronization

/// The threads behind `parallelFor`: workers that stay awake for a while between the parallel
/// parts of a training step, so that handing them a range costs a few hundred nanoseconds
/// instead of the wake-up of a sleeping Dispatch worker — with `concurrentPerform` the second
/// thread of model A (H 64, a dozen parallel parts in a 1.5 ms step) started late in every
/// part: the forward pass took 266 µs with 2 threads against 330 with one.
///
/// One job at a time: `run` publishes `parts` indices on a `JobBoard`; the caller and the workers
/// claim them one by one from its ticket (generation | parts | next index) until none is left,
/// and the caller returns when every claimed part has finished. The caller claims parts too, so
/// a job completes even if no worker ever wakes. A worker that finds no job spins for
/// `spinSeconds`, then sleeps on its semaphore until the next job.
///
/// A `parallelFor` inside a part of the running job (a nested job) is published on a second
/// board, one at a time, and its caller claims its parts like any job's; the threads that have
/// finished their parts of the running job and wait for the rest help it. Thread replicas
/// (`ThreadReplicas`, one part each) end their passes with the recurrent weight gradients, so a
/// replica done early takes part of another's instead of waiting for it. A second nested job
/// while one is published, or one nested deeper, runs its parts itself.
@usableFromInline
final class WorkerPool: @unchecked Sendable {
    @usableFromInline static let shared = WorkerPool()

    /// How long an idle worker keeps looking for work before it sleeps: longer than the serial
    /// stretches between a step's parallel parts, short enough to give the core back when the
    /// trainer does something else (100 µs and 3 ms measured alike on model A). A worker that
    /// ran a part of the running job does not sleep until the job ends: another of its parts may
    /// yet publish a nested job. Its spin counts from that end, not from the end of its own
    /// part: counted from there, a thread replica done a few hundred microseconds before the
    /// other (model A) slept through every step's serial stretch, and the next step's start
    /// waited 10–20 µs for it to wake.
    static let spinSeconds = 100e-6
    /// `spinSeconds` in nanoseconds, as the workers read it: tests lengthen it to tell a
    /// spinning worker from a sleeping one.
    let spinNanoseconds = Atomic<UInt64>(UInt64(spinSeconds * 1e9))

    final class Worker: Sendable {
        let sleeping = Atomic<Bool>(false)
        let wake = DispatchSemaphore(value: 0)
    }

    /// The running job, and the nested job inside one of its parts.
    private let job = JobBoard()
    private let nested = JobBoard()
    private let busy = Atomic<Bool>(false)
    private let nestedBusy = Atomic<Bool>(false)
    /// How many parts of the current job one thread may run: 1 for `onePerThread`. Set before
    /// the ticket publishes the job, like its body.
    private let partsPerThread = Atomic<Int>(.max)
    private var workers: [Worker] = []

    /// Runs `body(0)`, …, `body(parts − 1)`, on this thread and up to `parts − 1` workers.
    /// With `onePerThread`, every thread (this one too) runs one part only, so each part waits
    /// for a thread of its own: for long parts of equal size, where a worker slow to wake (a sleeping thread on a
    /// busy machine can take a millisecond) must cost its delay, not have the caller run its
    /// part after its own — which doubled a replicated step's time (`ThreadReplicas`).
    /// `whileWaiting`, if given, is called every few hundred turns of this thread's wait once
    /// its own parts are done, until the workers' are.
    @usableFromInline
    func run(parts: Int, onePerThread: Bool = false, whileWaiting: (() -> Void)? = nil, _ body: (Int) -> Void) {
        precondition(parts < 1 << 16, "WorkerPool: too many parts")
        guard parts > 1 else {
            for index in 0..<parts { body(index) }
            return
        }
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            runNested(parts: parts, body)
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        while workers.count < parts - 1 { startWorker() }
        withoutActuallyEscaping(body) { body in
            partsPerThread.store(onePerThread ? 1 : .max, ordering: .relaxed)
            let generation = job.publish(parts: parts, body)
            for worker in workers where worker.sleeping.exchange(false, ordering: .sequentiallyConsistent) {
                worker.wake.signal()
            }
            job.runClaimedParts(of: generation, atMost: onePerThread ? 1 : .max)
            var spins = 0
            while !job.hasFinished(parts: parts) {
                // Every 256th turn: a network poll is heavier than this loop (exclusivity checks,
                // MPI), and on a core shared with a worker (SMT) it would take that worker's
                // issue slots; a microsecond apart is often enough to keep a transfer moving.
                // And after each part of a nested job this thread helped with (a millisecond or
                // two of a replica's dWh), during which nothing polled.
                if nested.helpWithOnePart() {
                    whileWaiting?()
                    continue
                }
                spins &+= 1
                if spins & 255 == 0 { whileWaiting?() }
            }
            job.retire()
        }
    }

    /// A job published from inside a part of the running one: its caller runs parts, and so
    /// do threads that wait for the running job to end (`run`, `loop`).
    private func runNested(parts: Int, _ body: (Int) -> Void) {
        guard nestedBusy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for index in 0..<parts { body(index) }
            return
        }
        defer { nestedBusy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { body in
            let generation = nested.publish(parts: parts, body)
            nested.runClaimedParts(of: generation, atMost: .max)
            while !nested.hasFinished(parts: parts) {}   // a helper is finishing a part it claimed
            nested.retire()
        }
    }

    /// How many workers there are, and how many of them sleep (for tests; inside a job, or
    /// between jobs on the one thread that runs them: while no worker can be started).
    var workerCounts: (all: Int, sleeping: Int) {
        (workers.count, workers.filter { $0.sleeping.load(ordering: .acquiring) }.count)
    }

    private func startWorker() {
        let worker = Worker()
        workers.append(worker)
        // The generation before the job that starts this worker is published: a worker that
        // read it only once running could take that job for an old one and wait for the next,
        // leaving a part that only it may run (`onePerThread`) to no one.
        let seen = job.generation
        let thread = Thread { [self] in loop(worker, seen: seen) }
        thread.name = "rnn-dist worker"
        thread.start()
    }

    private func loop(_ worker: Worker, seen start: UInt64) {
        var seen = start
        var ranPartOfSeen = false
        while true {
            var idleSince = DispatchTime.now().uptimeNanoseconds
            var spins = 0
            while job.generation == seen {
                if nested.helpWithOnePart() {
                    idleSince = DispatchTime.now().uptimeNanoseconds
                    continue
                }
                spins += 1
                // A worker with a part of the running job stays awake until it ends, for the
                // nested jobs its other parts may publish, and its spin starts there; one
                // without (more workers than the job's parts: a test's, or an earlier wider
                // parallelFor's) sleeps as ever.
                guard spins % 64 == 0 else { continue }
                let now = DispatchTime.now().uptimeNanoseconds
                if ranPartOfSeen && busy.load(ordering: .relaxed) {
                    idleSince = now
                    continue
                }
                guard now - idleSince > spinNanoseconds.load(ordering: .relaxed) else { continue }
                worker.sleeping.store(true, ordering: .sequentiallyConsistent)
                if job.generationSequentiallyConsistent != seen {
                    // A job came between the check and the flag: take the flag back, or, if
                    // the caller already took it, consume the signal it sent.
                    if !worker.sleeping.exchange(false, ordering: .sequentiallyConsistent) { worker.wake.wait() }
                    break
                }
                worker.wake.wait()
                idleSince = DispatchTime.now().uptimeNanoseconds
            }
            seen = job.generation
            ranPartOfSeen = job.runClaimedParts(of: seen, atMost: partsPerThread.load(ordering: .relaxed)) > 0
        }
    }
}

/// One job at a time, published for threads to claim its parts: its body, a ticket
/// (generation | parts | next part to claim) and the count of finished parts.
private final class JobBoard: @unchecked Sendable {   // `work` is written only while no part can be claimed
    /// generation (bits 32…63) | parts (16…31) | next part to claim (0…15).
    private let ticket = Atomic<UInt64>(0)
    private let finished = Atomic<Int>(0)
    /// The job's body; set before the ticket publishes the job and cleared after its last part
    /// finished, so a thread reads it only while it holds a part.
    private var work: ((Int) -> Void)?

    var generation: UInt64 { ticket.load(ordering: .acquiring) >> 32 }

    /// `generation`, ordered with the sleeping flags of the workers (`WorkerPool.loop`).
    var generationSequentiallyConsistent: UInt64 { ticket.load(ordering: .sequentiallyConsistent) >> 32 }

    /// Publishes `parts` parts of `body` as the next generation, which it returns.
    func publish(parts: Int, _ body: @escaping (Int) -> Void) -> UInt64 {
        work = body
        finished.store(0, ordering: .relaxed)
        let generation = (ticket.load(ordering: .relaxed) >> 32) &+ 1
        ticket.store(generation << 32 | UInt64(parts) << 16, ordering: .sequentiallyConsistent)
        return generation
    }

    func hasFinished(parts: Int) -> Bool { finished.load(ordering: .acquiring) >= parts }

    /// After the last part finished: drops the body.
    func retire() { work = nil }

    /// Claims and runs parts of job `generation` until none is left (or `atMost` ran), and
    /// none of a later job.
    @inline(never)
    @discardableResult
    func runClaimedParts(of generation: UInt64, atMost: Int) -> Int {
        var ran = 0
        while ran < atMost {
            let current = ticket.load(ordering: .acquiring)
            guard current >> 32 == generation, current & 0xFFFF < (current >> 16) & 0xFFFF else { break }
            guard ticket.compareExchange(expected: current, desired: current + 1,
                                         ordering: .acquiringAndReleasing).exchanged else { continue }
            runPart(Int(current & 0xFFFF))
            finished.add(1, ordering: .releasing)
            ran += 1
        }
        return ran
    }

    /// Runs one unclaimed part of the published job, if there is one; whether it did.
    func helpWithOnePart() -> Bool {
        runClaimedParts(of: generation, atMost: 1) == 1
    }

    /// Not inlined, so that every reference this makes to the job's body is released before
    /// the part counts as finished (`withoutActuallyEscaping` checks that none is left).
    @inline(never)
    private func runPart(_ index: Int) {
        work!(index)
    }
}
