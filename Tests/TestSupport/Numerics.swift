import Model

/// Deterministic test data.
public struct TestRandom {
    var source: RandomSource
    public init(seed: UInt64) { source = RandomSource(seed: seed) }
    public mutating func uniform(_ count: Int, scale: Double = 1) -> [Double] {
        (0..<count).map { _ in (2 * source.nextUnit() - 1) * scale }
    }
    public mutating func normal(_ count: Int, scale: Double = 1) -> [Double] {
        (0..<count).map { _ in source.nextNormal() * scale }
    }
    public mutating func tokens(_ count: Int, below limit: Int) -> [Int32] {
        (0..<count).map { _ in Int32(source.next() % UInt64(limit)) }
    }
}

/// The worst element of a comparison, for a failure message that says where.
public struct Discrepancy: CustomStringConvertible {
    public var index = -1
    public var expected = 0.0
    public var actual = 0.0
    public var relativeError = 0.0
    public var description: String {
        "worst at index \(index): expected \(expected), got \(actual) (relative error \(relativeError))"
    }
}

/// max_i |a − b| / max(floor, |a| + |b|): the seeds' relative error, with the element where it
/// peaks.
public func worstRelativeError(_ expected: [Double], _ actual: [Double], floor: Double = 1e-8) -> Discrepancy {
    precondition(expected.count == actual.count, "lengths differ: \(expected.count) vs \(actual.count)")
    var worst = Discrepancy()
    for i in expected.indices {
        let error = abs(expected[i] - actual[i]) / max(floor, abs(expected[i]) + abs(actual[i]))
        if error > worst.relativeError || worst.index < 0 {
            worst = Discrepancy(index: i, expected: expected[i], actual: actual[i], relativeError: error)
        }
    }
    return worst
}

/// Centred finite differences of a scalar function of `values`, element by element.
public func numericalGradient(of f: () -> Double, perturbing values: UnsafeMutablePointer<Double>,
                              count: Int, step: Double = 1e-5) -> [Double] {
    (0..<count).map { i in
        let original = values[i]
        values[i] = original + step
        let plus = f()
        values[i] = original - step
        let minus = f()
        values[i] = original
        return (plus - minus) / (2 * step)
    }
}
