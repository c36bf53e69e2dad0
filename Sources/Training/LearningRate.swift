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

/// The validation losses a run has seen so far (checkpointed): the last, for the plateau rule,
/// and the best, for `best.rnnd`.
struct ValidationHistory: Equatable {
    var last: Double?
    var best: Double?

    /// Records `loss`; true when it is the best so far.
    mutating func record(_ loss: Double) -> Bool {
        let isBest = loss < (best ?? .infinity)
        if isBest { best = loss }
        last = loss
        return isBest
    }
}
