import Model

// Gradient accumulation (`train.accumulate` = A): a rank's B/P rows run as A micro-batches of
// B/(P·A) rows, one after the other, through one workspace of that size. Rows are independent
// in the model, so the gradients the micro-batches add up are those of the whole rows.

extension TokenBatch {
    /// Rows `rows` of this batch as a batch of their own, time-major like every batch: at each
    /// step t, the selected rows' tokens lie side by side, so each step is one slice copied.
    /// (Element by element, the copy went through the arrays' bounds and uniqueness checks,
    /// and the copy-on-write of `targets` through the runtime's generic value witnesses.)
    func selecting(rows selected: Range<Int>) -> TokenBatch {
        let (T, B) = (steps, rows)
        func pick<Element>(_ full: [Element]) -> [Element] {
            var part: [Element] = []
            part.reserveCapacity(T * selected.count)
            for t in 0..<T { part.append(contentsOf: full[(t * B + selected.lowerBound)..<(t * B + selected.upperBound)]) }
            return part
        }
        return TokenBatch(steps: T, rows: selected.count, inputs: pick(inputs), targets: pick(targets), mask: mask.map(pick))
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
