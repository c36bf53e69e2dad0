import XCTest
import Dispatch
import Synchronization
@testable import Kernels

/// `parallelFor` on the worker pool: every index exactly once, whether the workers are spinning,
/// asleep (after a pause longer than their spin) or busy with an outer `parallelFor`; and a
/// nested job helped by the threads that wait.
final class ParallelForTests: XCTestCase {
    func testEveryIndexRunsExactlyOnceAcrossThreadCountsAndPauses() {
        let count = 1_000
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: count)
        defer { hits.deallocate() }
        let shared = SendablePointer(hits)
        for round in 0..<400 {
            hits.initialize(repeating: 0, count: count)
            let threads = 2 + round % 4   // up to 5 on a 2-core machine: more parts than cores
            parallelFor(count, threads: threads, grain: 7) { range in
                for i in range { shared.base[i] += 1 }
            }
            XCTAssertTrue((0..<count).allSatisfy { hits[$0] == 1 }, "round \(round), \(threads) threads")
            if round % 50 == 49 { usleep(2_000) }   // let the workers fall asleep, then wake them
        }
    }

    /// Nested jobs: one at a time is published for idle threads to help with, any other runs
    /// on its caller's thread; either way every index runs once.
    func testNestedCallsRunEveryIndexOnce() {
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: 64)
        defer { hits.deallocate() }
        let shared = SendablePointer(hits)
        for round in 0..<200 {
            hits.initialize(repeating: 0, count: 64)
            parallelFor(4, threads: 2 + round % 3) { outer in
                for block in outer {
                    parallelFor(16, threads: 4) { inner in
                        for i in inner { shared.base[block * 16 + i] += 1 }
                    }
                }
            }
            XCTAssertEqual((0..<64).map { hits[$0] }, [Int](repeating: 1, count: 64), "round \(round)")
        }
    }

    /// A thread that has finished its part of a job helps with a nested job another part
    /// publishes (how a thread replica done early takes part of another's weight gradients).
    /// The nested job's first part waits for its second to start: run by its caller alone, the
    /// second would start only after the first, which would wait out its deadline.
    func testAThreadDoneWithItsPartHelpsWithANestedJob() {
        for round in 0..<20 {
            let secondStarted = Atomic<Bool>(false)
            let overlapped = Atomic<Bool>(false)
            runOnePartPerThread(2) { part in
                guard part == 1 else { return }   // part 0's thread is done at once
                parallelFor(2, threads: 2) { range in
                    if range.lowerBound == 1 {
                        secondStarted.store(true, ordering: .releasing)
                        return
                    }
                    let deadline = DispatchTime.now().uptimeNanoseconds + 2_000_000_000
                    while !secondStarted.load(ordering: .acquiring), DispatchTime.now().uptimeNanoseconds < deadline {}
                    overlapped.store(secondStarted.load(ordering: .acquiring), ordering: .releasing)
                }
            }
            XCTAssertTrue(overlapped.load(ordering: .acquiring), "round \(round): no thread helped with the nested job")
        }
    }

    /// Workers with no part of the running job (more workers than its parts, left by a wider
    /// job before) go to sleep as they did before nested jobs: only a worker that ran a part
    /// stays awake through the job for the nested jobs its other parts may publish. Spinning,
    /// the surplus workers of a test process took the cores from the training it ran next.
    func testWorkersWithNoPartOfTheRunningJobSleep() {
        runOnePartPerThread(7) { _ in usleep(200) }   // six workers at least
        let counts = Mutex<(all: Int, sleeping: Int)>((0, 0))
        // Part 0 watches while part 1 ends at once; up to two workers ran a part (the caller may
        // have found both taken), every other one should fall asleep.
        runOnePartPerThread(2) { part in
            guard part == 0 else { return }
            let deadline = DispatchTime.now().uptimeNanoseconds + 1_000_000_000
            var now = WorkerPool.shared.workerCounts
            while now.sleeping < now.all - 2, DispatchTime.now().uptimeNanoseconds < deadline {
                usleep(1_000)
                now = WorkerPool.shared.workerCounts
            }
            counts.withLock { $0 = now }
        }
        let (all, sleeping) = counts.withLock { $0 }
        XCTAssertGreaterThanOrEqual(all, 6)
        XCTAssertGreaterThanOrEqual(sleeping, all - 2, "workers with no part of the job kept spinning through it")
    }

    /// A worker that ran a part of a job spins for the pool's spin time after the job ends, not
    /// after its own part: thread replicas end a few hundred microseconds apart, and a worker
    /// whose spin began at the end of its part slept through every step's serial stretch, so
    /// the next step waited for it to wake. Here the caller's part outlasts the spin (lengthened
    /// to 100 ms, so that a loaded machine cannot blur it), and the worker must still be awake
    /// 10 ms after the job.
    ///
    /// Part 0 is the long one, whichever thread runs it: a worker spinning from an earlier,
    /// wider job (GemmTests leave three) can claim a part before the caller does, and then both
    /// parts ran on workers and ended at once (4 runs in 20 failed, when the caller's part was the
    /// long one). Every worker that ran a part must be awake; the others (woken by the job and
    /// spinning from then) asleep.
    func testAWorkersSpinCountsFromTheEndOfTheJobItRanAPartOf() {
        let pool = WorkerPool.shared
        let spin = pool.spinNanoseconds.exchange(100_000_000, ordering: .relaxed)
        defer { pool.spinNanoseconds.store(spin, ordering: .relaxed) }
        let caller = pthread_self()
        let partsOnWorkers = Atomic<Int>(0)
        runOnePartPerThread(2) { part in
            if pthread_equal(pthread_self(), caller) == 0 { partsOnWorkers.add(1, ordering: .relaxed) }
            if part == 0 { usleep(250_000) }   // part 1 ends at once
        }
        usleep(10_000)
        let (all, sleeping) = pool.workerCounts   // no job runs: no worker can be started meanwhile
        let awake = partsOnWorkers.load(ordering: .relaxed)
        XCTAssertEqual(sleeping, all - awake, "a worker that ran a part fell asleep as the job ended (\(awake) of \(all) ran one)")
    }

    /// The waiting caller's `whileWaiting` (a network poll, in training) runs after every part of
    /// a nested job it helped with, not only every few hundred idle turns: a helped part can take
    /// milliseconds, and a reduction in flight moves only while it is polled.
    func testTheWaitingCallerPollsBetweenTheNestedPartsItHelpsWith() {
        let caller = pthread_self()
        let events = Mutex<[String]>([])   // "part" (a nested part the caller ran), "poll"
        runOnePartPerThread(2, whileWaiting: { events.withLock { $0.append("poll") } }) { _ in
            // The caller's own part ends at once. (By thread, not by index: a worker spinning
            // from an earlier job can claim part 0 before the caller does.)
            guard pthread_equal(pthread_self(), caller) == 0 else { return }
            parallelFor(16, threads: 16) { _ in
                usleep(2_000)
                if pthread_equal(pthread_self(), caller) != 0 { events.withLock { $0.append("part") } }
            }
        }
        let log = events.withLock { $0 }
        XCTAssertTrue(log.contains("part"), "the caller helped with no nested part: \(log)")
        for (index, event) in log.enumerated() where event == "part" && index + 1 < log.count {
            XCTAssertEqual(log[index + 1], "poll", "the caller ran a nested part and went on without polling: \(log)")
        }
    }

    /// `runOnePartPerThread`: every part once, each on a thread of its own — also the first job
    /// of a worker started for it (a part count larger than any before starts one; such a worker
    /// once took its first job for an old one and left its part to no one: a hang) and after the
    /// workers fell asleep.
    func testOnePartPerThreadRunsEachPartOnItsOwnThread() {
        let threadOfPart = UnsafeMutablePointer<UInt>.allocate(capacity: 16)
        defer { threadOfPart.deallocate() }
        let shared = SendablePointer(threadOfPart)
        for parts in [2, 3, 2, 6, 7, 8, 16, 5] {
            for pause in [false, true] {
                threadOfPart.initialize(repeating: 0, count: 16)
                if pause { usleep(2_000) }
                runOnePartPerThread(parts) { part in
                    usleep(200)   // long enough that a free thread would take a second part
                    shared.base[part] = UInt(pthread_self())
                }
                let threads = (0..<parts).map { threadOfPart[$0] }
                XCTAssertFalse(threads.contains(0), "\(parts) parts: one did not run")
                XCTAssertEqual(Set(threads).count, parts, "\(parts) parts: two ran on one thread")
            }
        }
    }
}
