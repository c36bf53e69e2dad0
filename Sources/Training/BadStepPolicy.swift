/// The NaN policy: a step whose reduced loss or gradient norm is not finite is skipped (no
/// update; the caller zeroes the carried state, which may hold the NaN), and
/// `train.max_bad_steps` such steps in a row stop the run. Every rank judges the same reduced
/// numbers, so every rank decides alike.
struct BadStepPolicy {
    enum Verdict: Equatable {
        case update
        case skip(SkippedStep)
        /// Stop the run: `what` ("loss" or "gradient") was not finite `inARow` steps in a row.
        case stop(what: String, inARow: Int)
    }

    let allowed: Int
    private(set) var inARow = 0

    init(allowed: Int) { self.allowed = allowed }

    mutating func judge(loss: Double, gradientNorm: Double) -> Verdict {
        guard !loss.isFinite || !gradientNorm.isFinite else {
            inARow = 0
            return .update
        }
        inARow += 1
        let what = loss.isFinite ? "gradient" : "loss"
        guard inARow < allowed else { return .stop(what: what, inARow: inARow) }
        return .skip(SkippedStep(what: what, inARow: inARow, allowed: allowed))
    }
}


