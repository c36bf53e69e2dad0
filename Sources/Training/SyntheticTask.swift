import Model

/// Generated corpora that need no file, for trying the trainer in seconds.
public enum SyntheticTask: String, Sendable, CaseIterable {
    /// A sequence task: letters a…z where each letter is the sum of the two before it,
    /// mod 26 (a Fibonacci sequence over Z/26). The text is cut into segments of
    /// `segmentLength` letters, each opened by two random letters; those two are unpredictable
    /// and excluded from the loss, every other target is determined by its two predecessors,
    /// so a model that learns the rule drives the loss to zero.
    case sumMod26 = "sum_mod_26"

    public static let segmentLength = 24

    public func generate(tokens count: Int, seed: UInt64) -> Corpus {
        var random = RandomSource(seed: seed ^ 0x5EED_0003)
        var tokens = [Int32](repeating: 0, count: count)
        var scored = [UInt8](repeating: 1, count: count)
        for i in 0..<count {
            if i % Self.segmentLength < 2 {
                tokens[i] = Int32(random.next() % 26)
                scored[i] = 0
            } else {
                tokens[i] = (tokens[i - 1] + tokens[i - 2]) % 26
            }
        }
        let letters = (UInt32(UInt8(ascii: "a"))...UInt32(UInt8(ascii: "z")))
        return Corpus(vocabulary: Vocabulary(tokenizer: .char, symbols: letters), tokens: tokens, scoredTargets: scored)
    }
}
