/// One step's tokens for this process's rows, time-major: element (t, b) is at t·rows + b.
/// Dimension letters used throughout the model: T steps, B rows (sequences), H hidden units,
/// V vocabulary size.
public struct TokenBatch: Sendable, Equatable {
    public let steps: Int                 // T
    public let rows: Int                  // B (local)
    public var inputs: [Int32]            // (T, B) token at each step
    public var targets: [Int32]           // (T, B) the token that follows it
    public var mask: [UInt8]?             // (T, B) 1 = scored, 0 = excluded; nil scores all

    public init(steps: Int, rows: Int, inputs: [Int32], targets: [Int32], mask: [UInt8]? = nil) {
        precondition(inputs.count == steps * rows && targets.count == steps * rows)
        precondition(mask == nil || mask!.count == steps * rows)
        self.steps = steps
        self.rows = rows
        self.inputs = inputs
        self.targets = targets
        self.mask = mask
    }

    /// How many targets count towards the loss.
    public var scoredCount: Int { mask.map { $0.reduce(0) { $0 + Int($1) } } ?? steps * rows }
}
