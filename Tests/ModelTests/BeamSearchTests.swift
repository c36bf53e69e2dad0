import XCTest
import Kernels
import Model
import TestSupport

/// Decoding: beam search against greedy decoding, batched rows against one row, a chunked
/// prime against one token at a time, and the draw at extreme temperatures.
final class BeamSearchTests: XCTestCase {
    /// A bigram model built by hand: a tanh RNN with H = V, Wh = 0 and We = 12·I, so h ≈ onehot(x)
    /// (tanh 12 = 1 − 8e−11), and U[v, x] = log P(v | x), so the next token's distribution is
    /// `table[x]`.
    func bigramSampler(_ table: [[Double]], rows: Int = 1) -> Sampler<Double> {
        let V = table.count
        let model = LanguageModel<Double>(shape: ModelShape(vocabulary: V, hidden: V, activation: .tanh))
        let parameters = FlatBuffer<Double>(count: model.layout.count)
        let (We, U) = (parameters.view(model.layers[0].inputWeight), parameters.view(model.output.weight))
        for x in 0..<V {
            We[x * V + x] = 12
            for v in 0..<V { U[v * V + x] = Foundation.log(table[x][v]) }
        }
        return Sampler(model: model, parameters: parameters, rows: rows)
    }

    /// Tokens 0 = start, 1 = A, 2 = B, 3 = C. After the start A is the likeliest token (0.5), but
    /// everything after A is unsure, while B (0.4) is almost always followed by B (0.97).
    let table = [[0.001, 0.5, 0.4, 0.099],
                 [0.3, 0.25, 0.25, 0.2],
                 [0.01, 0.01, 0.97, 0.01],
                 [0.4, 0.3, 0.2, 0.1]]

    /// Greedy decoding's tokens and their log-probabilities.
    func greedy<S>(_ sampler: Sampler<S>, prime: [Int32], length: Int) -> Beam {
        var beam = Beam(tokens: [], logprobs: [])
        var random = [RandomSource(seed: 0)]
        sampler.generate(prime: prime, length: length, decoding: .greedy, random: &random) { _, token, logprob in
            beam.tokens.append(token)
            beam.logprobs.append(logprob)
            return true
        }
        return beam
    }

    func testBeamSearchFindsALikelierTextThanGreedyDecodingAndWidthOneIsGreedy() {
        let greedyBeam = greedy(bigramSampler(table), prime: [0], length: 3)
        XCTAssertEqual(greedyBeam.tokens, [1, 0, 1], "A, then the start token (0.3), then A")
        XCTAssertEqual(greedyBeam.logprob, Foundation.log(0.5 * 0.3 * 0.5), accuracy: 1e-6)

        let best = bigramSampler(table, rows: 2).beamSearch(prime: [0], length: 3)
        XCTAssertEqual(best.count, 2)
        XCTAssertEqual(best[0].tokens, [2, 2, 2], "B B B: 0.4 · 0.97² = 0.376 against greedy's 0.075")
        XCTAssertEqual(best[0].logprob, Foundation.log(0.4 * 0.97 * 0.97), accuracy: 1e-6)
        XCTAssertGreaterThan(best[0].logprob, greedyBeam.logprob + 1)

        let one = bigramSampler(table, rows: 1).beamSearch(prime: [0], length: 3)
        XCTAssertEqual(one.map(\.tokens), [greedyBeam.tokens])
        XCTAssertEqual(one[0].logprob, greedyBeam.logprob, accuracy: 1e-12)
    }

    /// On models with weights at random, for every cell: width 1 takes greedy decoding's
    /// tokens; wider beams are distinct, best first, at least as likely as greedy here, and each
    /// is scored as a one-row sampler scores its tokens.
    func testBeamsOfRandomModelsAreDistinctBestFirstAndScoredLikeTheirTokens() {
        for cell in CellType.allCases {
            let model = LanguageModel<Double>(shape: ModelShape(vocabulary: 7, hidden: 9, cell: cell, layers: 2))
            let parameters = FlatBuffer<Double>(count: model.layout.count)
            model.initialize(parameters, seed: 21)
            for i in 0..<parameters.count { parameters[i] *= 3 }
            let prime: [Int32] = [3, 1, 4, 1, 5]
            let greedyBeam = greedy(Sampler(model: model, parameters: parameters), prime: prime, length: 25)
            let one = Sampler(model: model, parameters: parameters).beamSearch(prime: prime, length: 25)
            XCTAssertEqual(one.map(\.tokens), [greedyBeam.tokens], "\(cell)")

            let beams = Sampler(model: model, parameters: parameters, rows: 6).beamSearch(prime: prime, length: 25)
            XCTAssertEqual(beams.count, 6)
            XCTAssertEqual(Set(beams.map(\.tokens)).count, 6, "\(cell): distinct")
            XCTAssertEqual(beams.map(\.logprob), beams.map(\.logprob).sorted(by: >), "\(cell): best first")
            XCTAssertGreaterThanOrEqual(beams[0].logprob, greedyBeam.logprob, "\(cell)")
            for beam in beams {
                let scorer = Sampler(model: model, parameters: parameters)
                var logits = scorer.start(prime: prime)
                for (token, logprob) in zip(beam.tokens, beam.logprobs) {
                    XCTAssertEqual(Sampler<Double>.logSoftmax(logits[...])[Int(token)], logprob, accuracy: 1e-9)
                    logits = scorer.feed(token)
                }
            }
        }
        // Fewer continuations than the width: all of them, once each.
        let short = bigramSampler(table, rows: 10).beamSearch(prime: [0], length: 1)
        XCTAssertEqual(short.map(\.tokens), [[1], [2], [3], [0]])
        XCTAssertEqual(bigramSampler(table, rows: 3).beamSearch(prime: [0], length: 0), [Beam(tokens: [], logprobs: [])])
    }

    /// Rows drawn side by side are the samples each stream draws alone, and a prime fed in
    /// chunks leaves the state that feeding it a token at a time leaves.
    func testBatchedRowsAndAChunkedPrimeComputeWhatOneRowComputes() {
        let model = LanguageModel<Double>(shape: ModelShape(vocabulary: 11, hidden: 8, cell: .lstm, layers: 2))
        let parameters = FlatBuffer<Double>(count: model.layout.count)
        model.initialize(parameters, seed: 5)
        var tokens = TestRandom(seed: 9)
        let prime = tokens.tokens(150, below: 11)        // two whole chunks and a part
        var logits: [Double] = []
        let stepwise = Sampler(model: model, parameters: parameters)
        for token in prime { logits = stepwise.feed(token) }
        let chunked = Sampler(model: model, parameters: parameters, rows: 3).start(prime: prime)
        for row in 0..<3 {
            let worst = worstRelativeError(logits, Array(chunked[(row * 11)..<((row + 1) * 11)]))
            XCTAssertLessThan(worst.relativeError, 1e-12, "\(worst)")
        }

        let decoding = Decoding.sample(temperature: 0.9, topK: 6)
        var streams = (0..<3).map { RandomSource(seed: 100 + UInt64($0)) }
        var together = [[Int32]](repeating: [], count: 3)
        Sampler(model: model, parameters: parameters, rows: 3).generate(prime: prime, length: 60, decoding: decoding, random: &streams) { row, token, _ in
            together[row].append(token)
            return row != 1 || together[1].count < 20      // row 1 stops early; the others go on
        }
        XCTAssertEqual(together.map(\.count), [60, 20, 60])
        for row in 0..<3 {
            var alone = [RandomSource(seed: 100 + UInt64(row))]
            var tokens: [Int32] = []
            Sampler(model: model, parameters: parameters).generate(prime: prime, length: together[row].count, decoding: decoding,
                                                                   random: &alone) { _, token, _ in tokens.append(token); return true }
            XCTAssertEqual(tokens, together[row], "row \(row)")
        }
    }

    /// No temperature or logit traps the draw: a denormal temperature is the argmax, the
    /// largest finite one is uniform, and logits that are not numbers still give a token.
    func testTheDrawAtExtremeTemperaturesAndLogits() {
        let logits: [Float] = [0.5, 2.25, -1, 2.0, 0]
        var random = RandomSource(seed: 3)
        for temperature in [1e-320, Double.leastNonzeroMagnitude, 1e-300, 1e-30] {
            for _ in 0..<20 {
                XCTAssertEqual(Sampler<Float>.choose(from: logits[...], decoding: .sample(temperature: temperature, topK: nil), random: &random), 1)
            }
        }
        var counts = [Int](repeating: 0, count: logits.count)
        for _ in 0..<5000 {
            counts[Int(Sampler<Float>.choose(from: logits[...], decoding: .sample(temperature: .greatestFiniteMagnitude, topK: Int.max), random: &random))] += 1
        }
        XCTAssertTrue(counts.allSatisfy { abs($0 - 1000) < 150 }, "uniform: \(counts)")
        for weird: [Float] in [[.nan, .nan, .nan], [1, .nan, 2], [-.infinity, 0, 1], [.infinity, 0, 1], [-.infinity, -.infinity]] {
            for decoding in [Decoding.greedy, .sample(temperature: 1, topK: nil), .sample(temperature: 1e-320, topK: 1)] {
                let token = Sampler<Float>.choose(from: weird[...], decoding: decoding, random: &random)
                XCTAssertTrue(weird.indices.contains(Int(token)), "\(weird) \(decoding)")
            }
        }
        let spread = Sampler<Float>.logSoftmax([0, -1e30, 1e30][...])
        XCTAssertTrue(spread.allSatisfy(\.isFinite), "\(spread)")
        XCTAssertEqual(spread[2], 0)
    }
}
