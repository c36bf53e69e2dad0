import Kernels
import RealModule

/// How the next token is picked from the logits θ.
public enum Decoding: Sendable, Equatable {
    /// The most likely token (the first of equals).
    case greedy
    /// A draw from softmax(θ / temperature), restricted to the `topK` most likely tokens when given.
    case sample(temperature: Double, topK: Int?)
}

/// Text generation from a trained model, B rows side by side, one token a step (T = 1).
///
/// A prime is fed once (in chunks, as training feeds text) and its state copied to every row;
/// then each step feeds one token per row and takes the logits of the next, so B samples cost
/// one batched forward pass a step. Rows are independent: each carries its own state.
public final class Sampler<S: KernelScalar> {
    public let model: LanguageModel<S>
    public let parameters: FlatBuffer<S>
    public let rows: Int                // B
    @usableFromInline let state: FlatBuffer<S>     // (B, stateWidth)
    @usableFromInline let work: Workspace<S>       // T = 1, B rows
    @usableFromInline var batch: TokenBatch

    /// Prime tokens go through the model this many at a time (one row).
    @usableFromInline static var primeChunk: Int { 64 }

    public init(model: LanguageModel<S>, parameters: FlatBuffer<S>, rows: Int = 1) {
        precondition(rows >= 1)
        self.model = model
        self.parameters = parameters
        self.rows = rows
        state = FlatBuffer(count: rows * model.shape.stateWidth)
        work = model.makeWorkspace(steps: 1, rows: rows)
        batch = TokenBatch(steps: 1, rows: rows, inputs: Array(repeating: 0, count: rows),
                           targets: Array(repeating: 0, count: rows))
    }

    @inlinable
    public func reset() { state.zero() }

    /// Feeds `token` to row 0 (a one-row sampler) and returns the logits of the token after it (V).
    @inlinable
    public func feed(_ token: Int32) -> [S] {
        precondition(rows == 1)
        return step([token])
    }

    /// Feeds one token to every row and returns the logits of the next tokens (B, V).
    @inlinable
    public func step(_ tokens: [Int32]) -> [S] {
        precondition(tokens.count == rows)
        batch.inputs = tokens
        model.forwardLayers(batch, parameters: parameters, state: state, work: work, threads: 1, dropout: nil)
        model.output.computeLogits(positions: rows, rows: rows, parameters: parameters, work: work, threads: 1)
        model.saveState(state, from: work)
        return Array(UnsafeBufferPointer(start: work.logits.base, count: rows * model.shape.vocabulary))
    }

    /// Resets every row, feeds `prime` (at least one token) and returns the logits after it,
    /// the same in every row (B, V). All but the last token go through one row in chunks of
    /// `primeChunk` steps (a long prime costs what training on it costs, and no more memory);
    /// the state is copied to every row and the last token fed to all.
    @inlinable
    public func start(prime: [Int32]) -> [S] {
        precondition(!prime.isEmpty)
        reset()
        let lead = prime.dropLast()
        if !lead.isEmpty {
            let T = min(Self.primeChunk, lead.count)
            let chunkWork = model.makeWorkspace(steps: T, rows: 1)
            let rowState = FlatBuffer<S>(count: model.shape.stateWidth)
            var from = lead.startIndex
            while from < lead.endIndex {
                let chunk = Array(lead[from..<min(from + T, lead.endIndex)])
                let chunkBatch = TokenBatch(steps: chunk.count, rows: 1, inputs: chunk, targets: chunk)
                model.forwardLayers(chunkBatch, parameters: parameters, state: rowState, work: chunkWork, threads: 1, dropout: nil)
                model.moveState(rowState, into: chunkWork, rows: 1, atStep: chunk.count, load: false)
                from += chunk.count
            }
            for row in 0..<rows { (state.base + row * rowState.count).update(from: rowState.base, count: rowState.count) }
        }
        return step(Array(repeating: prime.last!, count: rows))
    }

    /// Row i takes the state row `sources[i]` had (beam search's reordering of its hypotheses).
    @inlinable
    public func reorderRows(_ sources: [Int]) {
        precondition(sources.count == rows)
        let W = model.shape.stateWidth
        let previous = state.array
        for (row, source) in sources.enumerated() {
            previous.withUnsafeBufferPointer { (state.base + row * W).update(from: $0.baseAddress! + source * W, count: W) }
        }
    }

    /// log softmax(logits / temperature) in Double: (θ − max θ) / T − log Σ exp(…). The max is
    /// subtracted *before* dividing, so no temperature makes a NaN: as T → 0 (even a denormal)
    /// every token but the most likely goes to −∞ and the draw becomes the argmax; as T → ∞
    /// the draw becomes uniform. Every value is finite for a finite temperature, so a token's
    /// log-probability stays finite however unlikely it is.
    @inlinable
    public static func logSoftmax(_ logits: ArraySlice<S>, temperature: Double = 1) -> [Double] {
        var peak = -Double.infinity
        for x in logits where Double(x) > peak { peak = Double(x) }
        let scaled = logits.map { (Double($0) - peak) / temperature }
        var sum = 0.0
        for z in scaled { sum += Double.exp(z) }
        let logSum = Double.log(sum)
        return scaled.map { $0 - logSum }
    }

    /// softmax(logits / temperature), in Double.
    @inlinable
    public static func probabilities(_ logits: [S], temperature: Double = 1) -> [Double] {
        logSoftmax(logits[...], temperature: temperature).map { Double.exp($0) }
    }

    /// Picks the next token from `logits` (V).
    @inlinable
    public static func choose(from logits: ArraySlice<S>, decoding: Decoding, random: inout RandomSource) -> Int32 {
        guard case .sample(let temperature, let topK) = decoding else { return argmax(logits) }
        var probabilities = logSoftmax(logits, temperature: temperature).map { Double.exp($0) }
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
        // Rounding left u ≥ 0 past the last token, or the logits were not numbers: the last
        // token that could be drawn, else the most likely.
        return probabilities.lastIndex { $0 > 0 }.map { Int32($0) } ?? argmax(logits)
    }

    /// The first most likely token; NaN logits are passed over (token 0 when all are NaN).
    @inlinable
    public static func argmax(_ logits: ArraySlice<S>) -> Int32 {
        var best = logits.startIndex
        for i in logits.indices where !logits[i].isNaN && (logits[best].isNaN || logits[i] > logits[best]) { best = i }
        return Int32(best - logits.startIndex)
    }

    /// Draws up to `length` tokens in every row after `prime` (one batched step a token), row b
    /// from `random[b]`. `emit(row, token, logprob)` hears each token with its log-probability
    /// under the model (natural log, temperature 1, no top-k: the likelihood, whatever the
    /// decoding) and returns false when that row wants no more; generation ends when no row
    /// does. `length` may be anything up to `Int.max`: nothing is kept per token.
    @inlinable
    public func generate(prime: [Int32], length: Int, decoding: Decoding, random: inout [RandomSource],
                         emit: (_ row: Int, _ token: Int32, _ logprob: Double) throws -> Bool) rethrows {
        precondition(random.count == rows)
        let V = model.shape.vocabulary
        var logits = start(prime: prime)
        var active = Array(repeating: true, count: rows)
        var tokens = Array(repeating: prime.last!, count: rows)
        var produced = 0
        while produced < length {
            for row in 0..<rows where active[row] {
                let rowLogits = logits[(row * V)..<((row + 1) * V)]
                let token = Self.choose(from: rowLogits, decoding: decoding, random: &random[row])
                tokens[row] = token
                active[row] = try emit(row, token, Self.logSoftmax(rowLogits)[Int(token)])
            }
            produced += 1
            guard produced < length, active.contains(true) else { break }
            logits = step(tokens)
        }
    }

    /// `length` tokens after `prime` from one row (the trainer's samples).
    @inlinable
    public func generate(prime: [Int32], length: Int, temperature: Double, topK: Int?, greedy: Bool,
                         random: inout RandomSource) -> [Int32] {
        var output: [Int32] = []
        var streams = [random]
        generate(prime: prime, length: length, decoding: greedy ? .greedy : .sample(temperature: temperature, topK: topK),
                 random: &streams) { _, token, _ in
            output.append(token)
            return true
        }
        random = streams[0]
        return output
    }
}

extension Sampler {
    /// Bytes one row of a sampler holds, an estimate that errs high: its workspace (T = 1: a
    /// layer's states, gates and their gradients, ≤ 6G + 13H scalars), its state, a step's
    /// logits (kept twice) and the Double log-probabilities of one row in flight.
    public static func bytesPerRow(shape: ModelShape) -> Int {
        let G = shape.cell.gates * shape.hidden
        let scalars = shape.layers * (6 * G + 13 * shape.hidden) + shape.stateWidth + 2 * shape.vocabulary
        return MemoryLayout<S>.stride * scalars + 16 * shape.vocabulary
    }
}
