/// Small loops over flat buffers: bias broadcasts and sums, norms, clipping. Plain loops that
/// the compiler vectorises once specialised for Float and built for the host CPU.

/// matrix[r, :] += vector for every row r of a (rows × cols) matrix.
@inlinable
public func addToEveryRow<S: KernelScalar>(_ matrix: UnsafeMutablePointer<S>, rows: Int, columns: Int,
                                           vector: UnsafePointer<S>) {
    for r in 0..<rows {
        let row = matrix + r * columns
        for j in 0..<columns { row[j] += vector[j] }
    }
}

/// sums[j] += Σ_r matrix[r, j] over a (rows × cols) matrix: the gradient of a broadcast bias.
/// Threads take ranges of columns, so each sum adds its rows in order whatever the thread count.
@inlinable
public func accumulateColumnSums<S: KernelScalar>(_ matrix: UnsafePointer<S>, rows: Int, columns: Int,
                                                  into sums: UnsafeMutablePointer<S>, threads: Int = 1) {
    let (source, target) = (SendableConstPointer(matrix), SendablePointer(sums))
    let threads = usefulThreads(threads, work: rows * columns, perThread: 1 << 20)
    parallelFor(columns, threads: threads, grain: 16) { range in
        for r in 0..<rows {
            let row = source.base + r * columns
            for j in range { target.base[j] += row[j] }
        }
    }
}

/// Σ x[i]², accumulated in Double so that a million gradients keep their small ones.
@inlinable
public func sumOfSquares<S: KernelScalar>(_ x: UnsafePointer<S>, count: Int) -> Double {
    var total = 0.0
    var i = 0
    if S.self == Float.self {
        let raw = UnsafeRawPointer(x)
        var lanes = SIMD16<Double>()
        while i + 16 <= count {
            let v = SIMD16<Double>(raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self))
            lanes.addProduct(v, v)
            i += 16
        }
        total = lanes.sum()
    }
    while i < count {
        total += Double(x[i]) * Double(x[i])
        i += 1
    }
    return total
}

/// x[i] = min(max(x[i], −limit), limit): clipping by value.
@inlinable
public func clamp<S: KernelScalar>(_ x: UnsafeMutablePointer<S>, count: Int, limit: S) {
    for i in 0..<count { x[i] = min(max(x[i], -limit), limit) }
}

/// x[i] *= factor.
@inlinable
public func scale<S: KernelScalar>(_ x: UnsafeMutablePointer<S>, count: Int, by factor: S) {
    for i in 0..<count { x[i] *= factor }
}

/// y[i] += x[i].
@inlinable
public func add<S: KernelScalar>(_ x: UnsafePointer<S>, into y: UnsafeMutablePointer<S>, count: Int) {
    for i in 0..<count { y[i] += x[i] }
}
