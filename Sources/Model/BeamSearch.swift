import Kernels

/// One hypothesis of a beam search: the tokens after the prime and the log-probability the
/// model gave each (natural log).
public struct Beam: Sendable, Equatable {
    public var tokens: [Int32]
    public var logprobs: [Double]
    public var logprob: Double { logprobs.reduce(0, +) }

    public init(tokens: [Int32], logprobs: [Double]) {
        precondition(tokens.count == logprobs.count)
        (self.tokens, self.logprobs) = (tokens, logprobs)
    }
}

extension Sampler {
    /// Beam search of width K = `rows` (Jurafsky & Martin, ch. 10): after each step, of the
    /// K·V one-token extensions of the K best hypotheses so far, keep the K with the highest
    /// total log-probability. Returns the hypotheses of exactly `length` tokens after `prime`
    /// that survive, best first: at most K, fewer when fewer continuations exist; all
    /// distinct. Equal scores go to the earlier hypothesis, then the lower token, so width 1
    /// is greedy decoding.
    ///
    /// Memory: the search keeps (token, parent, score) for every step and hypothesis, 16·K
    /// bytes a token of `length`, to read the winners back at the end.
    @inlinable
    public func beamSearch(prime: [Int32], length: Int) -> [Beam] {
        let (K, V) = (rows, model.shape.vocabulary)
        var logits = start(prime: prime)
        var scores = [0.0] + Array(repeating: -Double.infinity, count: K - 1)
        var live = 1                                  // rows 0..<live hold hypotheses, best first
        var tokens: [Int32] = [], parents: [Int32] = [], totals: [Double] = []   // (length, K)
        for t in 0..<length {
            var best = BestCandidates(capacity: K)
            for row in 0..<live {
                let logprobs = Self.logSoftmax(logits[(row * V)..<((row + 1) * V)])
                for v in 0..<V {
                    best.offer(Candidate(score: scores[row] + logprobs[v], row: row, token: Int32(v)))
                }
            }
            let chosen = best.bestFirst()
            live = chosen.count
            for k in 0..<K {
                let candidate = k < live ? chosen[k] : Candidate(score: -.infinity, row: 0, token: 0)
                tokens.append(candidate.token)
                parents.append(Int32(candidate.row))
                totals.append(candidate.score)
                scores[k] = candidate.score
            }
            if t + 1 < length {
                reorderRows(parents.suffix(K).map(Int.init))
                logits = step(Array(tokens.suffix(K)))
            }
        }
        return (0..<live).map { k in
            var beam = Beam(tokens: Array(repeating: 0, count: length), logprobs: Array(repeating: 0, count: length))
            var index = k
            for t in stride(from: length - 1, through: 0, by: -1) {
                let at = t * K + index
                let parent = Int(parents[at])
                beam.tokens[t] = tokens[at]
                beam.logprobs[t] = totals[at] - (t == 0 ? 0 : totals[(t - 1) * K + parent])
                index = parent
            }
            return beam
        }
    }
}

/// An extension of hypothesis `row` by `token`, and the total log-probability it would have.
@usableFromInline
struct Candidate {
    @usableFromInline var score: Double
    @usableFromInline var row: Int
    @usableFromInline var token: Int32

    @inlinable
    init(score: Double, row: Int, token: Int32) { (self.score, self.row, self.token) = (score, row, token) }

    /// Higher score first; equal scores by the earlier row, then the lower token.
    @inlinable
    func isBetter(than other: Candidate) -> Bool {
        if score != other.score { return score > other.score }
        if row != other.row { return row < other.row }
        return token < other.token
    }
}

/// The `capacity` best candidates offered so far: a binary heap with the worst kept at the top,
/// so each offer costs one comparison, or log K when it enters.
@usableFromInline
struct BestCandidates {
    @usableFromInline let capacity: Int
    @usableFromInline var heap: [Candidate] = []

    @inlinable
    init(capacity: Int) { self.capacity = capacity }

    @inlinable
    mutating func offer(_ candidate: Candidate) {
        guard candidate.score > -.infinity else { return }
        if heap.count < capacity {
            heap.append(candidate)
            var child = heap.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard heap[parent].isBetter(than: heap[child]) else { break }
                heap.swapAt(parent, child)
                child = parent
            }
        } else if candidate.isBetter(than: heap[0]) {
            heap[0] = candidate
            var parent = 0
            while true {
                var worst = parent
                let (left, right) = (2 * parent + 1, 2 * parent + 2)
                if left < heap.count && heap[worst].isBetter(than: heap[left]) { worst = left }
                if right < heap.count && heap[worst].isBetter(than: heap[right]) { worst = right }
                guard worst != parent else { break }
                heap.swapAt(parent, worst)
                parent = worst
            }
        }
    }

    @inlinable
    func bestFirst() -> [Candidate] { heap.sorted { $0.isBetter(than: $1) } }
}
