import XCTest
import TestSupport

/// The memory a run says it will need per rank (its first line), against the peak resident
/// memory its metrics report: never less, so that a run the estimate lets start is not one the
/// kernel kills, and not so much more that it refuses runs the node can hold.
final class MemoryEstimateCLITests: XCTestCase {
    var directory: URL!
    override func setUpWithError() throws { directory = try TestPaths.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// A model whose parameters (5 M) outweigh the runtime, trained on 2 thread replicas with a
    /// checkpoint and a validation after every step: the copies of the parameters a fresh run on
    /// one rank makes (a checkpoint's copy and encoding, the replicas' gradients) and
    /// validation's workspace of its own are all there at the peak.
    func testTheEstimateHoldsAgainstTheMeasuredPeak() throws {
        let metrics = directory.appendingPathComponent("m.jsonl").path
        let settings = ["model.cell=lstm", "model.hidden_size=640", "model.layers=2", "model.dropout=0.2",
                        "train.threads=2", "train.max_steps=3", "checkpoint.every=1", "checkpoint.dir=ckpt",
                        "log.every=1", "log.val_every=1", "log.metrics=\(metrics)", "sample.every=1000"]
        let result = try runProcess(TestPaths.executable, [TestPaths.config("synthetic.json"), "--ranks", "1"]
                                    + settings.flatMap { ["--set", $0] }, directory: directory, timeout: 300)
        XCTAssertEqual(result.status, 0, result.stderr)
        let header = try XCTUnwrap(result.stdout.split(separator: "\n").first.map(String.init))
        let match = try XCTUnwrap(header.firstMatch(of: /about (\d+) MiB per rank/), header)
        let estimate = try XCTUnwrap(Double(match.1))
        let lines = try String(contentsOfFile: metrics, encoding: .utf8).split(separator: "\n")
        let peaks = try lines.compactMap { try (JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["peak_rss_mib"] as? Double }
        XCTAssertEqual(peaks.count, 3, "a peak on every training line")
        let peak = try XCTUnwrap(peaks.max())
        XCTAssertGreaterThanOrEqual(estimate, peak, header)
        XCTAssertLessThanOrEqual(estimate, 1.5 * peak, header)
    }
}
