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
    targets: UnsafePointer<Int32>, mask: UnsafePointer<UInt8>?, gradient: Bool
) -> Double {
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
        let maximum = rowMaximum(row, count: classes)
        let shiftedTarget = row[target] - maximum
        let sum = exponentiateShifted(row, count: classes, by: maximum)  // row[j] = e^{θj − max}
        loss += Double(weight) * (Double(S.log(sum)) - Double(shiftedTarget))
        if gradient {
            let scale = weight / sum
            for j in 0..<classes { row[j] *= scale }
            row[target] -= weight
        }
    }
    return loss
}

/// max_j row[j], 16 lanes at a time for Float.
@inlinable @inline(__always)
func rowMaximum<S: KernelScalar>(_ row: UnsafeMutablePointer<S>, count: Int) -> S {
    var j = 0
    var maximum = row[0]
    if S.self == Float.self && count >= 16 {
        let raw = UnsafeRawPointer(row)
        var lanes = raw.loadUnaligned(as: SIMD16<Float>.self)
        j = 16
        while j + 16 <= count {
            lanes = lanewiseMax(lanes, raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD16<Float>.self))
            j += 16
        }
        maximum = unsafeBitCast(laneMax(lanes), to: S.self)
    }
    while j < count {
        maximum = max(maximum, row[j])
        j += 1
    }
    return maximum
}

/// 0, 1, …, 15: which lanes of a SIMD16 tail lie inside the row.
@usableFromInline let laneIndex = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)

/// row[j] = exp(row[j] − shift); returns Σ row[j].
@inlinable @inline(__always)
func exponentiateShifted<S: KernelScalar>(_ row: UnsafeMutablePointer<S>, count: Int, by shift: S) -> S {
    var j = 0
    var sum: S = 0
    if S.self == Float.self {
        let raw = UnsafeMutableRawPointer(row)
        let s = SIMD16<Float>(repeating: unsafeBitCast(shift, to: Float.self))
        var partial = SIMD16<Float>()
        while j + 16 <= count {
            let e = vectorExp(raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD16<Float>.self) - s)
            raw.storeBytes(of: e, toByteOffset: j * 4, as: SIMD16<Float>.self)
            partial += e
            j += 16
        }
        if j < count {
            // The tail through the same vector exp: lanes past the row hold the shift (e⁰ = 1)
            // and are zeroed before the sum; only the valid lanes are stored.
            let valid = count - j
            var tail = s
            withUnsafeMutableBytes(of: &tail) { lanes in
                lanes.baseAddress!.copyMemory(from: raw + j * 4, byteCount: valid * 4)
            }
            let e = vectorExp(tail - s).replacing(with: 0, where: laneIndex .>= Int32(valid))
            withUnsafeBytes(of: e) { lanes in (raw + j * 4).copyMemory(from: lanes.baseAddress!, byteCount: valid * 4) }
            partial += e
            j = count
        }
        sum = S(laneSum(partial))
    }
    while j < count {
        row[j] = S.exp(row[j] - shift)
        sum += row[j]
        j += 1
    }
    return sum
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
