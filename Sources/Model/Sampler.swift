import Kernels

/// Text generation from a trained model, one token at a time (B = 1, T = 1).
///
/// Each step feeds the last token, takes the logits θ of the next one and draws from
/// softmax(θ / temperature), optionally restricted to the `topK` most likely tokens; `greedy`
/// takes the argmax. The state carries from token to token, so a prime text conditions what
/// follows.
public final class Sampler<S: KernelScalar> {
    public let model: LanguageModel<S>
    public let parameters: FlatBuffer<S>
    let state: FlatBuffer<S>
    let work: Workspace<S>
    var batch = TokenBatch(steps: 1, rows: 1, inputs: [0], targets: [0])

    public init(model: LanguageModel<S>, parameters: FlatBuffer<S>) {
        self.model = model
        self.parameters = parameters
        state = FlatBuffer(count: model.shape.stateWidth)
        work = model.makeWorkspace(steps: 1, rows: 1)
    }

    public func reset() { state.zero() }

    /// Feeds `token` and returns the logits of the token after it (V).
    public func feed(_ token: Int32) -> [S] {
        batch.inputs[0] = token
        model.forwardLayers(batch, parameters: parameters, state: state, work: work, threads: 1, dropout: nil)
        model.output.computeLogits(positions: 1, rows: 1, parameters: parameters, work: work, threads: 1)
        model.saveState(state, from: work)
        return Array(UnsafeBufferPointer(start: work.logits.base, count: model.shape.vocabulary))
    }

    /// softmax(logits / temperature), max-subtracted, in Double.
    public static func probabilities(_ logits: [S], temperature: Double = 1) -> [Double] {
        let scaled = logits.map { Double($0) / temperature }
        let peak = scaled.max() ?? 0
        let exps = scaled.map { Double.exp($0 - peak) }
        let sum = exps.reduce(0, +)
        return exps.map { $0 / sum }
    }

    /// Draws the next token from `logits`.
    public static func choose(from logits: [S], temperature: Double, topK: Int?, greedy: Bool,
                              random: inout RandomSource) -> Int32 {
        if greedy { return Int32(logits.indices.max { logits[$0] < logits[$1] }!) }
        var probabilities = Self.probabilities(logits, temperature: temperature)
        if let topK, topK < probabilities.count {
            let threshold = probabilities.sorted(by: >)[topK - 1]
            var kept = 0
            for i in probabilities.indices {
                if probabilities[i] >= threshold && kept < topK { kept += 1 } else { probabilities[i] = 0 }
            }
        }
        let total = probabilities.reduce(0, +)
        var u = random.nextUnit() * total
        for (i, p) in probabilities.enumerated() where p > 0 {
            u -= p
            if u < 0 { return Int32(i) }
        }
        return Int32(probabilities.lastIndex { $0 > 0 }!)
    }

    /// Primes with `prime` (at least one token) and generates `length` more tokens.
    public func generate(prime: [Int32], length: Int, temperature: Double, topK: Int?, greedy: Bool,
                         random: inout RandomSource) -> [Int32] {
        precondition(!prime.isEmpty)
        reset()
        var logits: [S] = []
        for token in prime { logits = feed(token) }
        var output: [Int32] = []
        output.reserveCapacity(length)
        for _ in 0..<length {
            let next = Self.choose(from: logits, temperature: temperature, topK: topK, greedy: greedy, random: &random)
            output.append(next)
            logits = feed(next)
        }
        return output
    }
}
