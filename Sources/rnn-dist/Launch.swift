import Foundation
import Distributed
import Training

/// How this process was started, and what that means for the job.
enum Launch {
    /// Started by mpirun, srun or another MPI launcher: the rank count comes from MPI.
    static var isUnderMPILauncher: Bool {
        let environment = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"].contains { environment[$0] != nil }
    }

    /// Replaces this process by `mpirun -np N` running this same executable with the same
    /// arguments, so `rnn-dist --ranks 4 CONFIG` needs no launcher command. Adds
    /// `--oversubscribe` when N exceeds the cores (OpenMPI refuses otherwise), the run-as-root
    /// flag when root (OpenMPI refuses root otherwise), and `--bind-to none` so each rank's
    /// threads may use the cores it is given.
    static func execMPIRun(ranks: Int, arguments: [String]) throws -> Never {
        guard let mpirun = findExecutable("mpirun") else {
            throw RNNDistError.input("--ranks \(ranks) starts mpirun, which is not installed (Debian: apt-get install -y openmpi-bin libopenmpi-dev); or use --ranks 1")
        }
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var command = [mpirun, "-np", String(ranks), "--bind-to", "none"]
        if ranks > ProcessInfo.processInfo.activeProcessorCount { command.append("--oversubscribe") }
        if geteuid() == 0 { command.append("--allow-run-as-root") }
        command += [me] + arguments
        let argv = command.map { strdup($0) } + [nil]
        execv(mpirun, argv)
        throw RNNDistError.runtime("could not start \(mpirun): \(String(cString: strerror(errno)))")
    }

    static func findExecutable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs a job's body on this rank and ends the process the way SPEC §3 and §7 ask: exit 0
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
                FileHandle.standardError.write(Data("rnn-dist: error: \(who)\(failure.message)\n".utf8))
            }
            if failure.isAgreed || !multiRank {
                communicator.finalize()
                exit(failure.exitCode)
            }
            communicator.abort(code: failure.exitCode)
        }
    }
}
