import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The last stop signal received (SIGTERM, SIGINT, SIGUSR1), or 0. Written only by the
/// signal handler, read by the training loop once per step: the handler does nothing else,
/// which is all a handler may safely do.
nonisolated(unsafe) private var receivedSignal: Int32 = 0

/// Stop requests from the scheduler or the user: Slurm sends SIGUSR1 (or SIGTERM)
/// before preemption, a user presses Ctrl-C. The trainer puts `isRequested` into the step's
/// allreduce, so every rank stops after the same step, and rank 0 checkpoints it. Installing
/// them also ignores SIGPIPE (`Console`), so that no write ends a rank in the middle of a stop.
public enum StopSignals {
    public static func install() {
        Console.ignoreBrokenPipes()
        for signalNumber in [SIGTERM, SIGINT, SIGUSR1] {
            signal(signalNumber) { receivedSignal = $0 }
        }
    }

    public static var isRequested: Bool { receivedSignal != 0 }

    public static var name: String {
        switch receivedSignal {
        case SIGTERM: return "SIGTERM"
        case SIGINT: return "SIGINT"
        case SIGUSR1: return "SIGUSR1"
        default: return "signal \(receivedSignal)"
        }
    }
}

/// Ends the process when no training step completes for `timeout` seconds, so that a hung
/// collective (a dead peer, a stuck file system) ends the job and the scheduler can requeue it
/// instead of the allocation burning idle. Checked from a Dispatch timer; exiting this rank
/// makes mpirun end the others.
public final class Watchdog: @unchecked Sendable {
    private let timeout: Double
    private let rank: Int
    private let lock = NSLock()
    private var lastBeat = Date()
    private var timer: DispatchSourceTimer?

    public init(timeout: Double, rank: Int) {
        self.timeout = timeout
        self.rank = rank
    }

    public func start() {
        let timer = DispatchSource.makeTimerSource(queue: .global())
        let interval = max(0.1, min(timeout / 4, 10))
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler { [self] in
            lock.lock()
            let idle = Date().timeIntervalSince(lastBeat)
            lock.unlock()
            if idle > timeout {
                let message = "rnn-dist: error: rank \(rank): no training step completed in \(Int(idle)) s (train.stall_timeout \(timeout)); ending the job so it can be requeued\n"
                Console.err(message)
                _exit(1)
            }
        }
        self.timer = timer
        timer.resume()
    }

    /// A step completed.
    public func beat() {
        lock.lock()
        lastBeat = Date()
        lock.unlock()
    }

    public func stop() {
        timer?.cancel()
        timer = nil
    }
}
