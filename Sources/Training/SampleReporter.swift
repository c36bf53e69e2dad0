/// Prints text from the model every `sample.every` steps, so a person watching sees what it
/// has learned.
public final class SampleReporter: TrainingObserver {
    let console: Progress
    let every: Int
    let length: Int

    public init(console: Progress, every: Int, length: Int) {
        self.console = console
        self.every = every
        self.length = length
    }

    public func stepFinished(_ event: StepEvent, trainer: Trainer) {
        guard event.skipped == nil, event.step % every == 0 else { return }
        console.line("sample at step \(event.step):\n\(trainer.sample(length: length))\n")
    }
}
