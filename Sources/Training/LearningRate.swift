import Model

/// The learning rate through a run: the schedule's rate before each update and, after a
/// validation, the plateau rule's (halved when the validation loss went up). What a checkpoint
/// keeps of it is `current` and the validation history it compares against.
struct LearningRate {
    let schedule: LearningRateSchedule
    let base: Double
    private(set) var current: Double

    init(schedule: LearningRateSchedule, base: Double, current: Double? = nil) {
        self.schedule = schedule
        self.base = base
        self.current = current ?? base
    }

    /// The rate for the update after `step` updates.
    mutating func prepareUpdate(afterSteps step: Int) -> Double {
        current = schedule.rate(base: base, step: step, current: current)
        return current
    }

    /// Applies the schedule's rule to a new validation loss; returns the change, if any.
    mutating func afterValidation(previous: Double?, latest: Double) -> (from: Double, to: Double)? {
        let lowered = schedule.afterValidation(current: current, previous: previous, latest: latest)
        guard lowered != current else { return nil }
        defer { current = lowered }
        return (current, lowered)
    }
}

/// The validation losses a run has seen so far (checkpointed): the last, for the plateau rule;
/// the best, for `best.rnnd`; and how many validations since the best, for early stopping.
struct ValidationHistory: Equatable {
    var last: Double?
    var best: Double?
    var sinceBest = 0

    /// Records `loss`; true when it is the best so far.
    mutating func record(_ loss: Double) -> Bool {
        let isBest = loss < (best ?? .infinity)
        if isBest { best = loss }
        sinceBest = isBest ? 0 : sinceBest + 1
        last = loss
        return isBest
    }

    /// `train.early_stop`: true once `patience` validations in a row brought no new best.
    func exhausted(patience: Int?) -> Bool {
        guard let patience else { return false }
        return sinceBest >= patience
    }
}
