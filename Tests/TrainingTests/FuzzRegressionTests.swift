import XCTest
@testable import Training

/// Every input the coverage-guided fuzzer (`launch/fuzz.sh`) found crashing, trapping or
/// hanging, kept in `Fuzz/regressions/` and replayed through the same harness: each must now
/// end as a parsed input or an input error. A regression traps this test process.
final class FuzzRegressionTests: XCTestCase {
    func testEveryKeptFuzzerFindingIsHandled() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Fuzz/regressions").standardized
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { !$0.hasPrefix(".") }.sorted()
        XCTAssertFalse(names.isEmpty, "no fuzzer findings in \(folder.path)")
        for name in names {
            let input = try Data(contentsOf: folder.appendingPathComponent(name))
            let start = Date()
            FuzzHarness.run(input)
            XCTAssertLessThan(Date().timeIntervalSince(start), 10, "\(name) took too long")
        }
    }
}
