import RealModule

/// Softmax cross-entropy over `rows` rows of `classes` logits (rows × V).
///
/// For row r with target y = targets[r] and weight w = mask[r] (1 scored, 0 masked; no mask
/// scores every row):
///   p = softmax(θ) computed as exp(θ − max θ) / Σ exp(θ − max θ), finite for any finite θ;
///   loss += w · (log Σ exp(θ − max θ) − (θ_y − max θ))   (= −w log p_y);
///   with `gradient`, θ is overwritten by ∂loss/∂θ = w · (p − onehot(y)).
/// Returns the loss sum in Double, whatever S is.
@inlinable
public func softmaxCrossEntropy<S: KernelScalar>(
    logits: UnsafeMutablePointer<S>, rows: Int, classes: Int,
    targets: UnsafePointer<Int32>, mask: UnsafePointer<UInt8>?, gradient: Bool, path: KernelPath = .current
) -> Double {
    if S.self == Float.self {
        return floatSoftmaxCrossEntropy(logits: UnsafeMutableRawPointer(logits).assumingMemoryBound(to: Float.self),
                                        rows: rows, classes: classes, targets: targets, mask: mask,
                                        gradient: gradient, path: path)
    }
    var loss = 0.0
    for r in 0..<rows {
        let row = logits + r * classes
        let target = Int(targets[r])
        precondition(target >= 0 && target < classes, "softmaxCrossEntropy: target out of range")
        let weight: S = mask.map { S($0[r]) } ?? 1
        if weight == 0 {
            if gradient { row.update(repeating: 0, count: classes) }
            continue
        }
        let maximum = (0..<classes).reduce(row[0]) { max($0, row[$1]) }
        let shiftedTarget = row[target] - maximum
        var sum: S = 0
        for j in 0..<classes {
            row[j] = S.exp(row[j] - maximum)
            sum += row[j]
        }
        loss += Double(weight) * (Double(S.log(sum)) - Double(shiftedTarget))
        if gradient {
            let scale = weight / sum
            for j in 0..<classes { row[j] *= scale }
            row[target] -= weight
        }
    }
    return loss
}

/// The Float rows, at the vector width of `path`.
@usableFromInline
func floatSoftmaxCrossEntropy(logits: UnsafeMutablePointer<Float>, rows: Int, classes: Int,
                              targets: UnsafePointer<Int32>, mask: UnsafePointer<UInt8>?, gradient: Bool,
                              path: KernelPath) -> Double {
    switch path {
    case .avx512: return softmaxRows(SIMD16<Float>.self, logits, rows, classes, targets, mask, gradient)
    case .avx2: return softmaxRows(SIMD8<Float>.self, logits, rows, classes, targets, mask, gradient)
    case .neon, .generic: return softmaxRows(SIMD4<Float>.self, logits, rows, classes, targets, mask, gradient)
    }
}

@inline(__always)
func softmaxRows<V: FloatVector>(_: V.Type, _ logits: UnsafeMutablePointer<Float>, _ rows: Int, _ classes: Int,
                                 _ targets: UnsafePointer<Int32>, _ mask: UnsafePointer<UInt8>?,
                                 _ gradient: Bool) -> Double {
    var loss = 0.0
    for r in 0..<rows {
        let row = logits + r * classes
        let target = Int(targets[r])
        precondition(target >= 0 && target < classes, "softmaxCrossEntropy: target out of range")
        let weight: Float = mask.map { Float($0[r]) } ?? 1
        if weight == 0 {
            if gradient { row.update(repeating: 0, count: classes) }
            continue
        }
        let maximum = rowMaximum(V.self, row, count: classes)
        let shiftedTarget = row[target] - maximum
        let sum = exponentiateShifted(V.self, row, count: classes, by: maximum)  // row[j] = e^{θj − max}
        loss += Double(weight) * (Double(Float.log(sum)) - Double(shiftedTarget))
        if gradient {
            let scale = weight / sum
            for j in 0..<classes { row[j] *= scale }
            row[target] -= weight
        }
    }
    return loss
}

/// max_j row[j], `V.lanes` at a time.
@inline(__always)
func rowMaximum<V: FloatVector>(_: V.Type, _ row: UnsafeMutablePointer<Float>, count: Int) -> Float {
    var j = 0
    var maximum = row[0]
    if count >= V.lanes {
        let raw = UnsafeRawPointer(row)
        var lanes = V.load(raw, byteOffset: 0)
        j = V.lanes
        while j + V.lanes <= count {
            lanes = lanes.lanewiseMax(V.load(raw, byteOffset: j * 4))
            j += V.lanes
        }
        maximum = lanes.laneMax
    }
    while j < count {
        maximum = max(maximum, row[j])
        j += 1
    }
    return maximum
}

/// row[j] = exp(row[j] − shift); returns Σ row[j].
@inline(__always)
func exponentiateShifted<V: FloatVector>(_: V.Type, _ row: UnsafeMutablePointer<Float>, count: Int,
                                         by shift: Float) -> Float {
    var j = 0
    let raw = UnsafeMutableRawPointer(row)
    let s = V(broadcast: shift)
    var partial = V.zero
    while j + V.lanes <= count {
        let e = vectorExp(V.load(raw, byteOffset: j * 4) - s)
        e.store(raw, byteOffset: j * 4)
        partial = partial + e
        j += V.lanes
    }
    if j < count {
        // The tail through the same vector exp: lanes past the row hold the shift (e⁰ = 1)
        // and are zeroed before the sum; only the valid lanes are stored.
        let valid = count - j
        let e = vectorExp(V.load(raw + j * 4, count: valid, filler: shift) - s).keepingFirst(valid)
        e.store(raw + j * 4, count: valid)
        partial = partial + e
    }
    return partial.laneSum
}

/// The reference twin: log-sum-exp and softmax in Double, straight from the definitions, with
/// the gradient written to `gradientOut` (rows × V) when given.
public func naiveSoftmaxCrossEntropy(
    logits: [Double], rows: Int, classes: Int, targets: [Int32], mask: [Double],
    gradientOut: inout [Double]
) -> Double {
    var loss = 0.0
    gradientOut = [Double](repeating: 0, count: rows * classes)
    for r in 0..<rows where mask[r] != 0 {
        let row = Array(logits[(r * classes)..<((r + 1) * classes)])
        let m = row.max()!
        let logSum = m + Double.log(row.map { Double.exp($0 - m) }.reduce(0, +))
        let y = Int(targets[r])
        loss += mask[r] * (logSum - row[y])
        for j in 0..<classes {
            gradientOut[r * classes + j] = mask[r] * (Double.exp(row[j] - logSum) - (j == y ? 1 : 0))
        }
    }
    return loss
}
