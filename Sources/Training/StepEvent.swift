import Foundation

/// What the training loop tells its observers after each step. Every rank builds the same
/// event from the same reduced numbers; only rank 0 has observers that print or write.
public struct StepEvent {
    public var step: Int                 // optimizer steps taken, this one included
    public var totalSteps: Int
    public var epoch: Int                // the epoch this step's data came from (1-based)
    public var isLast: Bool              // the run's planned end
    /// The step's mean loss over the global batch, nats per token.
    public var loss: Double
    /// The mean loss since the last log line, this step included (what a live line shows).
    public var intervalLoss: Double
    /// Positions scored in the global batch.
    public var tokens: Int
    /// ‖g‖ of the mean gradient before clipping.
    public var gradientNorm: Double
    public var learningRate: Double
    /// Seconds this step waited for the other ranks.
    public var communicationSeconds: Double
    /// Tokens per second since the last log line (or validation).
    public var tokensPerSecond: Double
    /// Seconds since the run (or the resumed run) started.
    public var elapsed: Double
    /// Set when the loss or gradient was not finite and the update was skipped; nothing else
    /// (report, validation, checkpoint) happens on such a step.
    public var skipped: SkippedStep?
    /// Set on the steps that end a logging interval.
    public var report: IntervalReport?
    /// Set on the steps that ran a validation.
    public var validation: ValidationReport?
    /// Set on the steps that checkpoint: the checkpoint to write (rank 0 writes it).
    public var checkpoint: CheckpointRequest?
    /// Set when the run stops after this step on request, before its planned end.
    public var stop: StopReason?
}

/// A step whose update was skipped (`BadStepPolicy`).
public struct SkippedStep: Sendable, Equatable {
    public var what: String              // "loss" or "gradient"
    public var inARow: Int
    public var allowed: Int
}

/// The mean over the steps since the last log line: what a log line and the metrics report.
public struct IntervalReport: Sendable {
    public var loss: Double              // nats per token
    public var tokensPerSecond: Double
    public var communicationSeconds: Double   // per step
}

public struct ValidationReport: Sendable {
    public var loss: Double              // nats per token over the whole validation split
    public var isBest: Bool              // lower than every validation before it
    /// A validation at the run's end, off the `log.val_every` grid: reported only, so that the
    /// schedule, early stopping and the best loss stand as a continuing run would have them.
    public var isExtra: Bool
    /// The learning rate before and after, when the schedule lowered it after this validation.
    public var learningRateChange: (from: Double, to: Double)?
}

public struct CheckpointRequest {
    public var checkpoint: Checkpoint
    public var isBest: Bool
}

/// Why a run stops before its planned end.
public enum StopReason: Sendable, Equatable {
    /// This rank received the named signal.
    case signal(String)
    /// Another rank asked to stop.
    case otherRank
    /// `patience` validations in a row brought no new best validation loss (`train.early_stop`).
    case earlyStop(patience: Int, best: Double)

    /// The line that closes such a run.
    public func message(step: Int) -> String {
        switch self {
        case .signal(let name): return "stopped on request at step \(step) (\(name)); resume with --resume auto"
        case .otherRank: return "stopped on request at step \(step) (another rank's signal); resume with --resume auto"
        case .earlyStop(let patience, let best):
            return "stopped early at step \(step): no new best validation loss in \(patience) validations (train.early_stop); the best, \(format(best, 4)), is in best.rnnd"
        }
    }
}

/// How a run begins, for the observers: the one-line description and what resuming found.
public struct RunStart: Sendable {
    public var header: String
    public var notes: [String]
    public var totalSteps: Int
}

/// Something that follows a run: a progress line, a metrics file, a checkpoint writer. The
/// training loop computes; observers report and store. A run without observers (a test, a
/// benchmark, the ranks other than 0) trains the same and says nothing.
public protocol TrainingObserver: AnyObject {
    func runStarted(_ start: RunStart)
    /// Called on this rank after every step. A throw ends the run on every rank when the step
    /// checkpoints (the ranks agree on it), and on this rank otherwise.
    func stepFinished(_ event: StepEvent, trainer: Trainer) throws
    func runFinished(_ summary: TrainingSummary)
}

extension TrainingObserver {
    public func runStarted(_ start: RunStart) {}
    public func runFinished(_ summary: TrainingSummary) {}
}

/// What a finished run reports.
public struct TrainingSummary: Sendable {
    public var steps: Int
    /// Mean training loss (nats per token) over the last logging interval.
    public var trainLoss: Double
    /// The last validation loss (nats per token), if validation ran.
    public var validationLoss: Double?
    public var tokensPerSecond: Double
    public var parameters: [Float]
}
