import Foundation

/// Writes the metrics file's lines (`MetricsLog`): a training line per logging interval, a
/// validation line per validation, and a stop line when the run stops early: on request or by
/// early stopping. A file says where a run stopped when the console cannot (`Console.write`).
public final class MetricsRecorder: TrainingObserver {
    let log: MetricsLog

    public init(log: MetricsLog) { self.log = log }

    public func stepFinished(_ event: StepEvent, trainer: Trainer) {
        if let report = event.report {
            log.write(["step": Double(event.step), "epoch": Double(event.epoch), "loss": report.loss,
                       "bpc": report.loss / M_LN2, "lr": event.learningRate, "grad_norm": event.gradientNorm,
                       "tokens_per_s": report.tokensPerSecond, "elapsed_s": event.elapsed,
                       "comm_s": report.communicationSeconds, "peak_rss_mib": (MemoryBudget.peakResidentMiB() * 10).rounded() / 10])
        }
        if let validation = event.validation {
            log.write(["step": Double(event.step), "val_loss": validation.loss, "val_bpc": validation.loss / M_LN2,
                       "val_perplexity": Foundation.exp(validation.loss)])
        }
        if event.stop != nil {
            log.write(["step": Double(event.step), "stopped": 1])
        }
    }
}

/// Redraws the loss curves beside the metrics file after every validation and at the end. A
/// picture that cannot be written is not worth stopping a run for: it is only mentioned.
public final class LossPlotter: TrainingObserver {
    let metrics: String

    public init(metrics: String) { self.metrics = metrics }

    public func stepFinished(_ event: StepEvent, trainer: Trainer) {
        if event.validation != nil { draw() }
    }

    public func runFinished(_ summary: TrainingSummary) { draw() }

    func draw() {
        do { try LossPlot.write(metrics: metrics, to: LossPlot.defaultOutput(for: metrics)) } catch {
            Console.err("rnn-dist: note: no loss plot: \(error)\n")
        }
    }
}
