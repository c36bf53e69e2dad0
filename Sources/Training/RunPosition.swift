import Foundation

/// Where the next step's data comes from: chunk `chunk` of epoch `epoch` (1-based).
struct DataCursor: Equatable {
    var epoch = 1
    var chunk = 0

    /// Moves past one step's chunk.
    mutating func advance(stepsPerEpoch: Int) {
        chunk += 1
        if chunk == stepsPerEpoch { self = DataCursor(epoch: epoch + 1, chunk: 0) }
    }
}

/// The sums since the last log line, which the line reports as means. A checkpoint keeps the
/// loss and token sums and the step count, so a resumed run's first line matches.
struct LogInterval {
    var nats = 0.0, tokens = 0.0, steps = 0, communication = 0.0
    /// When the interval's throughput is measured from (reset by validation too: validation
    /// time is not training throughput).
    var clockStart = Date()

    mutating func add(_ totals: StepTotals, communicationSeconds: Double) {
        nats += totals.lossSum
        tokens += totals.tokens
        steps += 1
        communication += communicationSeconds
    }

    func tokensPerSecond(tokensPerStep: Int, now: Date) -> Double {
        Double(steps * tokensPerStep) / max(now.timeIntervalSince(clockStart), 1e-9)
    }

    func report(tokensPerStep: Int, now: Date) -> IntervalReport {
        IntervalReport(loss: nats / max(tokens, 1), tokensPerSecond: tokensPerSecond(tokensPerStep: tokensPerStep, now: now),
                       communicationSeconds: communication / Double(max(steps, 1)))
    }
}
