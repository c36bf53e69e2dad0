import XCTest
import TestSupport

/// Asserts how the executable refuses bad input: exit status 2, no hang, and a single
/// `rnn-dist: error:` line (no trap, no stack trace) containing every fragment.
func assertUsageError(_ result: ProcessResult, mentions fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertFalse(result.timedOut, file: file, line: line)
    XCTAssertEqual(result.status, 2, result.stderr, file: file, line: line)
    XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "one line: \(result.stderr)", file: file, line: line)
    XCTAssertTrue(result.stderr.hasPrefix("rnn-dist: error: "), result.stderr, file: file, line: line)
    for fragment in fragments {
        XCTAssertTrue(result.stderr.contains(fragment), "'\(result.stderr)' lacks '\(fragment)'", file: file, line: line)
    }
    XCTAssertFalse(result.stderr.contains("Fatal error"), file: file, line: line)
}
