import Foundation
import Model

// Text the tests generate, with statistics known exactly: a learning test's bar is computed,
// not measured on a downloaded corpus, and a fresh clone runs every test.

/// An order-2 Markov chain over the 24 letters a…x. Each letter b has four successors; after
/// the pair (a, b) comes b's successor j with probability `weights[(j − favoured[a]) mod 4]`:
/// the letter before b decides which of b's successors is likely. Every context's distribution
/// is `weights` in some order, so the chain's entropy rate is H(weights) exactly; a model that
/// sees only the previous letter cannot tell which successor is favoured and does worse, by an
/// amount `TextStatistics` measures on the generated text.
public struct SecondOrderMarkovText {
    public static let alphabet = Array("abcdefghijklmnopqrstuvwx".utf8)
    public static let weights = [0.7, 0.15, 0.1, 0.05]

    let successors: [[Int]]  // (V, 4): the letters that may follow each letter
    let favoured: [Int]      // (V): which successor the letter two back favours

    public init(seed: UInt64) {
        var random = RandomSource(seed: seed)
        let V = Self.alphabet.count
        successors = (0..<V).map { _ in
            var letters = Array(0..<V)
            for i in 0..<4 { letters.swapAt(i, i + Int(random.next() % UInt64(V - i))) }
            return Array(letters[..<4])
        }
        favoured = (0..<V).map { _ in Int(random.next() % 4) }
    }

    /// H(weights) in nats per letter: the loss of a model that knows the chain.
    public static var entropyRate: Double { entropy(weights) }

    public func generate(count: Int, seed: UInt64) -> [UInt8] {
        var random = RandomSource(seed: seed)
        var (a, b) = (0, 1)
        return (0..<count).map { _ in
            (a, b) = (b, successors[b][Self.successor(random.nextUnit(), favouring: favoured[a])])
            return Self.alphabet[b]
        }
    }

    /// Which of four successors `u` (uniform in [0, 1)) picks when successor j has probability
    /// `weights[(j − favoured) mod 4]`.
    static func successor(_ u: Double, favouring favoured: Int) -> Int {
        var (u, j) = (u, 0)
        while j < 3 && u >= weights[(j - favoured + 4) % 4] {
            u -= weights[(j - favoured + 4) % 4]
            j += 1
        }
        return j
    }
}

/// Made-up words in sentences, for word-level tests whose text must not change with the
/// repository's own (a sample drawn after a few steps on the Swift sources depended on how many
/// `///` the latest commit had written): `vocabulary` words of 2–7 letters, each followed by one
/// of four successors with `SecondOrderMarkovText.weights`, a full stop after every 4–12 words.
/// The same text for the same seeds.
public struct GeneratedWords {
    public let words: [String]
    let successors: [[Int]]

    public init(vocabulary: Int, seed: UInt64) {
        var random = RandomSource(seed: seed)
        var words: [String] = []
        while words.count < vocabulary {
            let length = 2 + Int(random.next() % 6)
            let word = String(decoding: (0..<length).map { _ in
                SecondOrderMarkovText.alphabet[Int(random.next() % UInt64(SecondOrderMarkovText.alphabet.count))]
            }, as: UTF8.self)
            if !words.contains(word) { words.append(word) }
        }
        self.words = words
        successors = (0..<vocabulary).map { _ in (0..<4).map { _ in Int(random.next() % UInt64(vocabulary)) } }
    }

    /// `count` words, spaced, in sentences.
    public func generate(count: Int, seed: UInt64) -> String {
        var random = RandomSource(seed: seed)
        var (word, untilStop) = (0, 4)
        var text = ""
        for _ in 0..<count {
            word = successors[word][SecondOrderMarkovText.successor(random.nextUnit(), favouring: 0)]
            text += words[word]
            untilStop -= 1
            if untilStop == 0 {
                text += ".\n"
                untilStop = 4 + Int(random.next() % 9)
            } else {
                text += " "
            }
        }
        return text
    }
}

/// A long-range dependency in text form: records `K f…f=K⏎`, a key K drawn from the first
/// `keys` capitals, L filler letters drawn from the first `fillers` small letters (L uniform in
/// 1…`maxGap`), `=`, and the key again. A model that carries the key across the gap predicts
/// the recall exactly; one that forgets pays ln `keys` for it.
public struct KeyRecallText {
    public var keys = 8
    public var fillers = 4
    public var maxGap = 24

    public init() {}

    public func generate(count: Int, seed: UInt64) -> [UInt8] {
        var random = RandomSource(seed: seed)
        var text: [UInt8] = []
        text.reserveCapacity(count + maxGap + 4)
        while text.count < count {
            let key = UInt8(ascii: "A") + UInt8(random.next() % UInt64(keys))
            text.append(key)
            for _ in 0..<(1 + Int(random.next() % UInt64(maxGap))) {
                text.append(UInt8(ascii: "a") + UInt8(random.next() % UInt64(fillers)))
            }
            text += [UInt8(ascii: "="), key, UInt8(ascii: "\n")]
        }
        return Array(text[..<count])
    }

    /// Nats per character of a model that knows the process: per record, ln keys for the key,
    /// ln maxGap for where `=` falls and ln fillers per filler, over E[L] + 4 characters
    /// (renewal–reward: the rate is the expected information over the expected length).
    public var entropyRate: Double { recordEntropy / meanRecordLength }

    /// Nats per character of a model that knows everything but the key at the recall.
    public var forgetfulEntropy: Double { (recordEntropy + log(Double(keys))) / meanRecordLength }

    var recordEntropy: Double {
        log(Double(keys)) + log(Double(maxGap)) + Double(maxGap + 1) / 2 * log(Double(fillers))
    }
    var meanRecordLength: Double { Double(maxGap + 1) / 2 + 4 }
}

/// Entropies of a text's own letter counts: what the best unigram and bigram models reach on
/// this very text (the maximum-likelihood estimates are those counts).
public struct TextStatistics {
    /// H(X) in nats.
    public let unigramEntropy: Double
    /// H(X_t | X_{t−1}) in nats: a model that sees only the previous letter does no better.
    public let bigramEntropy: Double

    public init(_ text: [UInt8]) {
        var singles = [Double](repeating: 0, count: 256)
        var pairs = [Double](repeating: 0, count: 256 * 256)
        for byte in text { singles[Int(byte)] += 1 }
        for (a, b) in zip(text, text.dropFirst()) { pairs[Int(a) * 256 + Int(b)] += 1 }
        unigramEntropy = entropy(singles)
        // H(X_t | X_{t−1}) = H(X_{t−1}, X_t) − H(X_{t−1}), over the text's pairs.
        var previous = [Double](repeating: 0, count: 256)
        for a in text.dropLast() { previous[Int(a)] += 1 }
        bigramEntropy = entropy(pairs) - entropy(previous)
    }
}

/// −Σ p ln p of counts or probabilities (normalised here).
func entropy(_ counts: [Double]) -> Double {
    let total = counts.reduce(0, +)
    return -counts.filter { $0 > 0 }.reduce(0) { $0 + $1 / total * log($1 / total) }
}

/// Writes `text` to `name` in `directory` and returns the file's path, for `data.path`.
public func writeCorpus(_ text: [UInt8], named name: String, in directory: URL) throws -> String {
    let url = directory.appendingPathComponent(name)
    try Data(text).write(to: url)
    return url.path
}
