import XCTest
import Model
import Training
import TestSupport

/// Streaming text: pieces that join to what decoding all tokens at once gives, and stop texts
/// that cut it exactly where a search of the whole text would.
final class SampleTextTests: XCTestCase {
    let chars = Vocabulary(tokenizer: .char, symbols: Array("\n abc.é€😀".unicodeScalars.map(\.value)))
    let words = Vocabulary(words: ["<unk>", "<s>", "</s>", "the", "cat", "sat", ".", ",", "!", "'s"])

    /// The reference: decode everything, take the generated part, cut it at the first match.
    func expected(_ vocabulary: Vocabulary, prime: [Int32], tokens: [Int32], stops: [String]) -> (bytes: [UInt8], stopped: Bool) {
        let generated = Array(Array(vocabulary.decode(prime + tokens).utf8).dropFirst(vocabulary.decode(prime).utf8.count))
        let matches = stops.compactMap { stop -> Int? in
            let pattern = Array(stop.utf8)
            guard generated.count >= pattern.count else { return nil }
            return (0...(generated.count - pattern.count)).first { generated[$0..<($0 + pattern.count)].elementsEqual(pattern) }
        }
        guard let cut = matches.min() else { return (generated, false) }
        return (Array(generated[..<cut]), true)
    }

    /// A prime as the user gives one: the tokens of a text (for bytes, whole UTF-8 characters).
    func userPrime(_ vocabulary: Vocabulary, _ random: inout TestRandom, count: Int) -> [Int32] {
        guard vocabulary.tokenizer == .byte else { return random.tokens(count, below: vocabulary.count) }
        let texts = ["", "a", "é", "€😀", "b\n"]
        return try! vocabulary.encode(texts[count % texts.count]).get()
    }

    func stream(_ vocabulary: Vocabulary, prime: [Int32], tokens: [Int32], stops: [String]) -> (bytes: [UInt8], text: SampleText, pieces: Int) {
        var text = SampleText(vocabulary: vocabulary, prime: prime, stops: stops)
        var bytes: [UInt8] = []
        var pieces = 0
        for (i, token) in tokens.enumerated() where !text.stopped {
            let piece = text.append(token, logprob: -Double(i + 1))
            if !piece.isEmpty { pieces += 1 }
            bytes += piece
        }
        bytes += text.finish()
        return (bytes, text, pieces)
    }

    func testPiecesJoinToTheDecodedTextForEveryTokenizer() {
        var random = TestRandom(seed: 4)
        for vocabulary in [chars, Vocabulary.bytes, words] {
            for trial in 0..<200 {
                let prime = userPrime(vocabulary, &random, count: trial % 3)
                let tokens = random.tokens(1 + trial % 40, below: vocabulary.count)
                let (bytes, text, _) = stream(vocabulary, prime: prime, tokens: tokens, stops: [])
                XCTAssertEqual(bytes, expected(vocabulary, prime: prime, tokens: tokens, stops: []).bytes,
                               "\(vocabulary.tokenizer) \(prime) \(tokens)")
                XCTAssertEqual(text.tokens, tokens.count)
                XCTAssertEqual(text.logprob, -Double(tokens.count * (tokens.count + 1) / 2))
            }
        }
        // A four-byte character split over four byte tokens comes out whole, once complete.
        var text = SampleText(vocabulary: .bytes, prime: [], stops: [])
        let pieces = Array("😀".utf8).map { text.append(Int32($0), logprob: 0) }
        XCTAssertEqual(pieces, [[], [], [], Array("😀".utf8)])
        // Bytes that never complete a character decode as decoding the whole text does.
        let broken: [Int32] = [0xF0, 0x9F, 0x41, 0xE2, 0x82, 0xC3]
        XCTAssertEqual(stream(.bytes, prime: [], tokens: broken, stops: []).bytes,
                       Array(Vocabulary.bytes.decode(broken).utf8))
    }

    func testAStopTextCutsTheTextWhereASearchOfTheWholeTextWould() {
        var random = TestRandom(seed: 8)
        let stopsOf: [Tokenizer: [[String]]] = [
            .char: [["a"], ["é€"], ["\n\n"], ["b", "c."], ["😀a"], ["cab", "abc", "€😀"]],
            .byte: [["a"], ["€"], ["\u{FFFD}"], ["ab", "\n"]],
            .word: [["."], ["cat sat"], ["\n"], [" the", "!"], ["at"]],
        ]
        for vocabulary in [chars, Vocabulary.bytes, words] {
            for stops in stopsOf[vocabulary.tokenizer]! {
                for trial in 0..<300 {
                    let prime = userPrime(vocabulary, &random, count: trial % 4)
                    let tokens = random.tokens(1 + trial % 60, below: vocabulary.count)
                    let (bytes, text, _) = stream(vocabulary, prime: prime, tokens: tokens, stops: stops)
                    let reference = expected(vocabulary, prime: prime, tokens: tokens, stops: stops)
                    XCTAssertEqual(bytes, reference.bytes, "\(vocabulary.tokenizer) \(stops) \(prime) \(tokens)")
                    XCTAssertEqual(text.stopped, reference.stopped)
                    if vocabulary.tokenizer == .char {   // the printed tokens are exactly the text's characters
                        let printed = String(decoding: bytes, as: UTF8.self).unicodeScalars.count
                        XCTAssertEqual(text.tokens, printed)
                        XCTAssertEqual(text.logprob, -Double(printed * (printed + 1) / 2))
                    }
                }
            }
        }
    }

    /// Held-back text waits only while it may begin a stop text.
    func testTextIsHeldBackOnlyWhileItMayBeginAStopText() {
        var text = SampleText(vocabulary: chars, prime: [], stops: ["abc"])
        let token = { (c: Character) in self.chars.token(for: c.unicodeScalars.first!.value)! }
        XCTAssertEqual(text.append(token("a"), logprob: 0), [])
        XCTAssertEqual(text.append(token("b"), logprob: 0), [])
        XCTAssertEqual(text.append(token("a"), logprob: 0), Array("ab".utf8))
        XCTAssertEqual(text.append(token("."), logprob: 0), Array("a.".utf8))
        XCTAssertEqual(text.append(token("a"), logprob: 0), [])
        XCTAssertEqual(text.finish(), Array("a".utf8))
        XCTAssertFalse(text.stopped)
    }
}
