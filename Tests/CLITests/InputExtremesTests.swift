import XCTest
import TestSupport

/// Every number a user can put in a config, at its extremes, through the built executable:
/// each run trains or ends with exit 2 and one line — never a signal, a trap or a hang.
final class InputExtremesTests: XCTestCase {
    var directory: URL!
    override func setUpWithError() throws { directory = try TestPaths.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    static let keys = [
        "data.val_fraction", "data.synthetic_tokens", "data.vocab_size",
        "model.hidden_size", "model.layers", "model.dropout",
        "train.batch_size", "train.seq_length", "train.epochs", "train.max_steps", "train.lr", "train.momentum",
        "train.beta1", "train.beta2", "train.rho", "train.eps", "train.lr_decay", "train.lr_decay_every",
        "train.clip_value", "train.clip_norm", "train.bptt_truncate", "train.seed", "train.threads",
        "train.sync_check_every", "train.max_bad_steps", "train.stall_timeout", "train.early_stop",
        "checkpoint.every", "checkpoint.keep", "sample.every", "sample.length", "sample.temperature",
        "log.every", "log.val_every",
    ]
    static let values = ["0", "-1", "1e-320", "1e308", "-1e308", "9.3e18", "9223372036854775807", "1.5", "3",
                         "100000000", "null", "true", "\"x\"", "[]"]

    func testEveryConfigNumberAtItsExtremesTrainsOrIsRefusedInOneLine() throws {
        let base = ["--set", "data.synthetic_tokens=3000", "--set", "train.batch_size=4", "--set", "train.seq_length=8",
                    "--set", "model.hidden_size=8", "--set", "train.max_steps=2", "--set", "log.val_every=1",
                    "--set", "sample.every=1", "--set", "sample.length=5", "--set", "train.threads=1",
                    "--set", "log.metrics=null", "--set", "checkpoint.dir=ckpt"]
        var trained = 0, refused = 0
        for key in Self.keys {
            // 10⁸ generated tokens are valid, only slow to validate after every step.
            for value in Self.values where !(key == "data.synthetic_tokens" && value == "100000000") {
                let arguments = [TestPaths.config("synthetic.json")] + base + ["--set", "\(key)=\(value)"]
                let result = try runProcess(TestPaths.executable, arguments, directory: directory, timeout: 60)
                let what = "\(key)=\(value): status \(result.status), \(result.stderr.suffix(300))"
                XCTAssertFalse(result.timedOut, "hung: \(what)")
                // 1: a run that diverged (a huge learning rate) and said so; 2: refused.
                XCTAssertTrue((0...2).contains(result.status), what)
                if result.status != 0 {
                    XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, what)
                    XCTAssertTrue(result.stderr.hasPrefix("rnn-dist: error: "), what)
                    refused += 1
                } else {
                    trained += 1
                }
            }
        }
        XCTAssertGreaterThan(trained, 50)
        XCTAssertGreaterThan(refused, 200)
    }
}
