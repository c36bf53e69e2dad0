import Model

// Gradient accumulation (`train.accumulate` = A): a rank's B/P rows run as A micro-batches of
// B/(P·A) rows, one after the other, through one workspace of that size. Rows are independent
// in the model, so the gradients the micro-batches add up are those of the whole rows.

extension TokenBatch {
    /// Rows `rows` of this batch as a batch of their own, time-major like every batch.
    func selecting(rows selected: Range<Int>) -> TokenBatch {
        let (T, B, b) = (steps, rows, selected.count)
        var inputs = [Int32](repeating: 0, count: T * b), targets = inputs
        var mask = self.mask.map { _ in [UInt8](repeating: 0, count: T * b) }
        for t in 0..<T {
            for j in 0..<b {
                let source = t * B + selected.lowerBound + j
                inputs[t * b + j] = self.inputs[source]
                targets[t * b + j] = self.targets[source]
                if let full = self.mask { mask![t * b + j] = full[source] }
            }
        }
        return TokenBatch(steps: T, rows: b, inputs: inputs, targets: targets, mask: mask)
    }
}

extension FlatBuffer {
    /// Rows `rows` of a (rows, width) buffer, copied into one of their own.
    func copying(rows: Range<Int>, width: Int) -> FlatBuffer {
        let part = FlatBuffer(count: rows.count * width)
        part.base.update(from: base + rows.lowerBound * width, count: rows.count * width)
        return part
    }

    /// Writes `part` back over rows `rows` of a (rows, width) buffer.
    func replace(rows: Range<Int>, width: Int, with part: FlatBuffer) {
        precondition(part.count == rows.count * width)
        (base + rows.lowerBound * width).update(from: part.base, count: part.count)
    }
}
