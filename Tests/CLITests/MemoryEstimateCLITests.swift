import XCTest
import TestSupport

/// The memory a run says it will need per rank (its first line), against the peak resident
/// memory its metrics report: never less, so that a run the estimate lets start is not one the
/// kernel kills, and not so much more that it refuses runs the node can hold.
final class MemoryEstimateCLITests: XCTestCase {
    var directory: URL!
    override func setUpWithError() throws { directory = try TestPaths.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// Trains the 5 M-parameter lstm below on 2 thread replicas up to `steps`, with a checkpoint
    /// and a validation after every step (resuming from the latest checkpoint with `resume`):
    /// its first line and the highest `peak_rss_mib` of its metrics.
    func train(steps: Int, resume: Bool = false, checkpoints: String = "ckpt", metrics name: String) throws
        -> (header: String, peak: Double) {
        let metrics = directory.appendingPathComponent(name).path
        let settings = ["model.cell=lstm", "model.hidden_size=640", "model.layers=2", "model.dropout=0.2",
                        "train.threads=2", "train.max_steps=\(steps)", "checkpoint.every=1", "checkpoint.dir=\(checkpoints)",
                        "log.every=1", "log.val_every=1", "log.metrics=\(metrics)", "sample.every=1000"]
        let result = try runProcess(TestPaths.executable, [TestPaths.config("synthetic.json"), "--ranks", "1"]
                                    + settings.flatMap { ["--set", $0] } + (resume ? ["--resume", "auto"] : []),
                                    directory: directory, timeout: 300)
        XCTAssertEqual(result.status, 0, result.stderr)
        let header = try XCTUnwrap(result.stdout.split(separator: "\n").first.map(String.init))
        let lines = try String(contentsOfFile: metrics, encoding: .utf8).split(separator: "\n")
        let peaks = try lines.compactMap { try (JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["peak_rss_mib"] as? Double }
        XCTAssertEqual(peaks.count, 3, "a peak on every training line")
        return (header, try XCTUnwrap(peaks.max()))
    }

    /// A model whose parameters (5 M) outweigh the runtime, trained on 2 thread replicas with a
    /// checkpoint and a validation after every step: the copies of the parameters a fresh run on
    /// one rank makes (a checkpoint's copy and encoding, the replicas' gradients) and
    /// validation's workspace of its own are all there at the peak.
    func testTheEstimateHoldsAgainstTheMeasuredPeak() throws {
        let (header, peak) = try train(steps: 3, metrics: "m.jsonl")
        let match = try XCTUnwrap(header.firstMatch(of: /about (\d+) MiB per rank/), header)
        let estimate = try XCTUnwrap(Double(match.1))
        XCTAssertGreaterThanOrEqual(estimate, peak, header)
        XCTAssertLessThanOrEqual(estimate, 1.5 * peak, header)
    }

    /// Resuming holds the checkpoint it reads no more often than saving one does, so a resumed
    /// run peaks about where a fresh one does (the estimate counts nothing more for it). Reading
    /// it used to hold 3–4 more copies once the workspaces existed: a resumed lstm H 1024
    /// peaked 113 MiB (10 %) above a fresh run. Here each copy of the parameters and Adagrad's
    /// state is 40 MB, 12 % of the peak. One run's peak moves by up to 10 % (315–347 MiB in
    /// five fresh runs, 326–351 resumed), so the lowest of three runs each are compared:
    /// 315 fresh and 323–326 resumed in the runs here. Three more copies of the message while it
    /// is decoded (the old way's count) fail it: 378.6 against 315.1. One more does not show:
    /// restoring then peaks below the checkpoints every step saves.
    func testAResumedRunPeaksWhereAFreshOneDoes() throws {
        var (fresh, resumed) = (Double.infinity, Double.infinity)
        for run in 0..<3 {
            fresh = min(fresh, try train(steps: 3, checkpoints: "ckpt\(run)", metrics: "fresh\(run).jsonl").peak)
            resumed = min(resumed, try train(steps: 6, resume: true, checkpoints: "ckpt\(run)",
                                             metrics: "resumed\(run).jsonl").peak)
        }
        XCTAssertLessThanOrEqual(resumed, 1.08 * fresh, "lowest peaks: resumed \(resumed) MiB, fresh \(fresh) MiB")
    }
}
