import Foundation

/// What a finished child process said.
public struct ProcessResult {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var timedOut: Bool
}

/// A child process whose output goes to temporary files, for tests that signal it mid-run.
public final class RunningProcess {
    public let process = Process()
    let outURL: URL
    let errURL: URL

    public init(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil,
                directory: URL? = nil) throws {
        process.executableURL = executable
        process.arguments = arguments
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if let directory { process.currentDirectoryURL = directory }
        outURL = FileManager.default.temporaryDirectory.appendingPathComponent("rnn-dist-out-\(UUID().uuidString)")
        errURL = FileManager.default.temporaryDirectory.appendingPathComponent("rnn-dist-err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
    }

    deinit {
        if process.isRunning { process.terminate() }
        try? FileManager.default.removeItem(at: outURL)
        try? FileManager.default.removeItem(at: errURL)
    }

    public var stdout: String { (try? String(contentsOf: outURL, encoding: .utf8)) ?? "" }

    /// Waits until `condition` holds for the output so far (true) or `timeout` passes (false).
    public func waitForOutput(timeout: TimeInterval, until condition: (String) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(stdout) { return true }
            usleep(20_000)
        }
        return false
    }

    public func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits for the exit (killing the process after `timeout`) and collects the output.
    public func finish(timeout: TimeInterval) -> ProcessResult {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        let timedOut = process.isRunning
        if timedOut {
            process.terminate()
            process.waitUntilExit()
        }
        return ProcessResult(status: process.terminationStatus, stdout: stdout,
                             stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "", timedOut: timedOut)
    }
}

/// Runs an executable with a timeout (a hang is a failure, never a stuck test run) and
/// collects its output.
public func runProcess(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil,
                       directory: URL? = nil, timeout: TimeInterval = 120) throws -> ProcessResult {
    try RunningProcess(executable, arguments, environment: environment, directory: directory).finish(timeout: timeout)
}

/// Where things are, seen from a test.
public enum TestPaths {
    /// The package root (this file is Tests/TestSupport/ProcessRunner.swift).
    public static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The built `rnn-dist` executable, next to the test bundle.
    public static var executable: URL { Bundle.main.bundleURL.appendingPathComponent("rnn-dist") }

    public static func config(_ name: String) -> String {
        packageRoot.appendingPathComponent("configs/\(name)").path
    }

    /// A fresh empty directory.
    public static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("rnn-dist-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// OpenMPI for the multi-rank tests.
public enum MPI {
    /// `mpirun` on the PATH, or nil (the tests then skip, saying so).
    public static var mpirun: URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { URL(fileURLWithPath: "\($0)/mpirun") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    /// Lets OpenMPI run as root (CI is root) without the interactive confirmation.
    public static let environment = ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"]
}

/// A real-text corpus that ships with the repository: every Swift source file of the package,
/// concatenated (about 100 KB of code and prose comments). Written to `directory`.
public func writeSourceCorpus(in directory: URL) throws -> String {
    let sources = TestPaths.packageRoot.appendingPathComponent("Sources")
    let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)!
        .compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }.sorted { $0.path < $1.path }
    var text = ""
    for file in files { text += try String(contentsOf: file, encoding: .utf8) }
    let path = directory.appendingPathComponent("corpus.txt").path
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    return path
}
