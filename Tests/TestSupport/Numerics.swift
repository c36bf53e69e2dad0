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

/// max_i |a − b| / max(floor, |a| + |b|): a relative error, with the element where it
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

/// Centred finite differences of a scalar function of `values`, element by element, with the
/// five-point stencil f′ ≈ (8(f(x+h) − f(x−h)) − (f(x+2h) − f(x−2h))) / 12h: its error is
/// O(h⁴), so h = 1e-4 keeps both truncation and rounding (~1e-16·|f|/h) near 1e-11 — small
/// enough to resolve gradient components of 1e-4 to a relative 1e-6.
public func numericalGradient(of f: () -> Double, perturbing values: UnsafeMutablePointer<Double>,
                              count: Int, step h: Double = 1e-4) -> [Double] {
    (0..<count).map { i in
        let original = values[i]
        func at(_ offset: Double) -> Double {
            values[i] = original + offset
            return f()
        }
        let derivative = (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h)
        values[i] = original
        return derivative
    }
}
