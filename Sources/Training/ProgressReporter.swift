import Foundation

/// Rank 0's console during training: the run's header, a live progress line on a terminal
/// (plain lines every `log.every` steps in a log), validation results, skipped steps and why a
/// run stopped early.
public final class ProgressReporter: TrainingObserver {
    let console: Progress
    private var stop: (step: Int, reason: StopReason)?

    public init(console: Progress) { self.console = console }

    public func runStarted(_ start: RunStart) {
        console.line(start.header)
        for note in start.notes { console.line(note) }
    }

    public func stepFinished(_ event: StepEvent, trainer: Trainer) {
        if let skipped = event.skipped {
            console.line("step \(event.step): the \(skipped.what) is not finite (NaN or Inf); update skipped (\(skipped.inARow) of \(skipped.allowed) allowed in a row)")
            return
        }
        console.update(step: event.step, epoch: event.epoch, loss: event.intervalLoss,
                       tokensPerSecond: event.tokensPerSecond, elapsed: event.elapsed)
        if let report = event.report, !console.isTerminal || event.isLast {
            console.line("step \(event.step)/\(event.totalSteps) epoch \(event.epoch) loss \(format(report.loss, 4)) bpc \(format(report.loss / M_LN2, 3)) grad_norm \(format(event.gradientNorm, 3)) \(Progress.rate(report.tokensPerSecond)) elapsed \(Progress.duration(event.elapsed))")
        }
        if let validation = event.validation {
            let v = validation.loss
            console.line("step \(event.step) validation loss \(format(v, 4)) bpc \(format(v / M_LN2, 3)) perplexity \(format(Foundation.exp(v), 2))")
            if let change = validation.learningRateChange {
                console.line("validation loss went up: learning rate \(change.from) → \(change.to)")
            }
        }
        if let reason = event.stop { stop = (event.step, reason) }
    }

    public func runFinished(_ summary: TrainingSummary) {
        if let stop {
            console.line(stop.reason.message(step: stop.step))
        }
        console.finish()
    }
}
