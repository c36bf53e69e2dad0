import Foundation
import Distributed
import Training

/// The mpirun that `runUnderMPIRun` started, for its signal handlers, and whether one of them
/// ran before it was known.
nonisolated(unsafe) private var launchedJob: pid_t = 0
nonisolated(unsafe) private var stopBeforeLaunch: sig_atomic_t = 0

/// How this process was started, and what that means for the job.
enum Launch {
    /// Started by mpirun, srun or another MPI launcher: the rank count comes from MPI.
    static var isUnderMPILauncher: Bool {
        let environment = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"].contains { environment[$0] != nil }
    }

    /// Runs `mpirun -np N` on this same executable with the same arguments, so
    /// `rnn-dist --ranks 4 CONFIG` needs no launcher command, and exits with its status. Adds
    /// `--oversubscribe` when N exceeds the cores (OpenMPI refuses otherwise), the run-as-root
    /// flag when root (OpenMPI refuses root otherwise), `--bind-to none` so each rank's
    /// threads may use the cores it is given, and `--quiet`: the ranks print their own one-line
    /// errors, and mpirun's multi-line banner after them only buries the line. The one thing the
    /// banner told that no rank can, a rank killed by a signal, is said here instead.
    ///
    /// mpirun answers SIGTERM and SIGINT by killing the job (SIGCONT to the ranks at once,
    /// SIGTERM after `odls_base_sigkill_timeout` seconds, SIGKILL as long again after that) and
    /// exiting 1, but forwards SIGUSR1 untouched. So mpirun runs in a process group of its own (a
    /// terminal's Ctrl-C reaches only this process) and a stop signal sent here reaches the ranks
    /// as SIGUSR1: they agree to stop, checkpoint, and the job exits 0. Should mpirun itself be
    /// signalled (a scheduler that signals every process of the job), the ranks get
    /// `graceSeconds` instead of OpenMPI's 1 s to finish the stop step after mpirun's SIGTERM;
    /// an OMPI_MCA_odls_base_sigkill_timeout in the environment takes precedence.
    static func runUnderMPIRun(ranks: Int, arguments: [String]) throws -> Never {
        guard let mpirun = findExecutable("mpirun") else {
            throw RNNDistError.input("--ranks \(ranks) starts mpirun, which is not installed (Debian: apt-get install -y openmpi-bin libopenmpi-dev); or use --ranks 1")
        }
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var command = [mpirun, "-np", String(ranks), "--bind-to", "none", "--quiet"]
        if ranks > ProcessInfo.processInfo.activeProcessorCount { command.append("--oversubscribe") }
        if geteuid() == 0 { command.append("--allow-run-as-root") }
        if ProcessInfo.processInfo.environment["OMPI_MCA_odls_base_sigkill_timeout"] == nil {
            command += ["--mca", "odls_base_sigkill_timeout", String(graceSeconds)]
        }
        command += [me] + arguments

        // The stop signals are held from before the spawn until their handler knows mpirun's
        // pid, so that none ends this process and leaves mpirun running unwatched. mpirun starts
        // with them unheld and at their defaults, and with SIGPIPE at its default (it has its own
        // handler): this process ignores SIGPIPE, which a spawned process would inherit.
        var stopSignals = sigset_t(), previous = sigset_t()
        sigemptyset(&stopSignals)
        for signalNumber in [SIGTERM, SIGINT, SIGUSR1] {
            sigaddset(&stopSignals, signalNumber)
            signal(signalNumber) { _ in
                if launchedJob > 0 { kill(launchedJob, SIGUSR1) } else { stopBeforeLaunch = 1 }  // kill(0) would signal our group
            }
        }
        sigprocmask(SIG_BLOCK, &stopSignals, &previous)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        var defaults = stopSignals, unheld = sigset_t()
        sigaddset(&defaults, SIGPIPE)
        sigemptyset(&unheld)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &unheld)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        let argv = command.map { strdup($0) } + [nil]
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, mpirun, nil, &attributes, argv, environ)
        guard spawned == 0 else {
            throw RNNDistError.runtime("could not start \(mpirun): \(String(cString: strerror(spawned)))")
        }
        launchedJob = pid
        sigprocmask(SIG_SETMASK, &previous, nil)
        if stopBeforeLaunch != 0 { kill(pid, SIGUSR1) }  // taken by another thread before the pid was known
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signalled = status & 0x7F
        let code = signalled == 0 ? (status >> 8) & 0xFF : 128 + signalled
        if signalled == 0 && code > 128 {   // mpirun's way of saying a rank died of signal code − 128
            let name = strsignal(code - 128).map { String(cString: $0) } ?? "signal \(code - 128)"
            Console.err("rnn-dist: error: a rank was killed (\(name)); the job ended, checkpoints already written are intact\n")
        }
        exit(code)
    }

    /// Runs `body` on the ranks of this job: under a launcher on MPI's ranks, with `ranks` > 1
    /// on the ranks of an mpirun this starts, else in this process alone. A rank count asked
    /// for that differs from the launcher's is an input error.
    static func run(ranks: Int?, _ body: (Communicator) throws -> Void) throws -> Never {
        Console.ignoreBrokenPipes()
        if isUnderMPILauncher {
            let communicator = try MPICommunicator()
            runJob(on: communicator) {
                try communicator.agree {
                    if let ranks, ranks != communicator.size {
                        throw RNNDistError.input("--ranks \(ranks), but the launcher started \(communicator.size) ranks")
                    }
                }
                try body(communicator)
            }
        } else if let ranks, ranks > 1 {
            try runUnderMPIRun(ranks: ranks, arguments: Array(CommandLine.arguments.dropFirst()))
        } else {
            runJob(on: SingleProcess()) { try body(SingleProcess()) }
        }
    }

    /// Seconds between mpirun's SIGTERM to the ranks and its SIGKILL (`odls_base_sigkill_timeout`,
    /// OpenMPI's default 1) for the jobs `--ranks N` and launch/ start. A stop takes at most two
    /// steps and the checkpoint: 0.1–0.8 s for the shipped configs on the 2-core machine under
    /// load (README, "Checkpoints, preemption, text"). mpirun waits out the timeout twice whenever
    /// a rank exits non-zero, a bad config included (3 s at 1, 6 s at 3, 21 s at 10), so it stays
    /// small; OMPI_MCA_odls_base_sigkill_timeout raises it for slow steps.
    static let graceSeconds = 3

    static func findExecutable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs a job's body on this rank and ends the process the way the README promises: exit 0
    /// when done; on an error every rank knows of (after an agreement), a clean exit with its
    /// status on every rank and one message; on an error only this rank knows of, its message
    /// with the rank and an MPI_Abort of the whole job, so no rank waits forever.
    static func runJob(on communicator: Communicator, _ body: () throws -> Void) -> Never {
        do {
            try body()
            communicator.finalize()
            exit(0)
        } catch {
            let failure = error as? RNNDistError ?? .runtime(String(describing: error))
            let multiRank = communicator.size > 1
            if !failure.isSilent {
                let who = multiRank && (!failure.isAgreed || communicator.rank != 0) ? "rank \(communicator.rank): " : ""
                Console.err("rnn-dist: error: \(who)\(failure.message)\n")
            }
            if failure.isAgreed || !multiRank {
                communicator.finalize()
                exit(failure.exitCode)
            }
            communicator.abort(code: failure.exitCode)
        }
    }
}
