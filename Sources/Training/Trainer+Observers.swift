/// The observers a command-line run gives rank 0.
extension Trainer {
    /// On rank 0: the progress line (live on a terminal), the metrics file and its plot when
    /// `log.metrics` is set, samples and the checkpoint writer. None on the other ranks. A
    /// metrics file that cannot be created ends every rank with the same error.
    public func standardObservers(interactive: Bool) throws -> [TrainingObserver] {
        try communicator.agree {
            guard communicator.rank == 0 else { return [] }
            let console = Progress(totalSteps: totalSteps, isTerminal: interactive)
            // In the order each step's event reaches them: the checkpoint as soon as the step's
            // metrics line is written (a resume keeps the lines up to its step), before the plot
            // and the sample, so that a stop within a launcher's grace time waits for neither.
            var observers: [TrainingObserver] = [ProgressReporter(console: console)]
            let metrics = config.log.metrics
            if let metrics { observers.append(MetricsRecorder(log: try MetricsLog(path: metrics, resumedAt: step))) }
            observers.append(CheckpointWriter(store: CheckpointStore(directory: config.checkpoint.dir, keep: config.checkpoint.keep),
                                              console: console))
            if let metrics { observers.append(LossPlotter(metrics: metrics)) }
            observers.append(SampleReporter(console: console, every: config.sample.every, length: config.sample.length))
            return observers
        }
    }
}
