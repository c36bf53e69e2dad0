import XCTest
import Model
import Training
import TestSupport

/// `sample` and `predict` through the built executable: streaming into a pipe, stop texts,
/// batched samples, beam search, log-probabilities, JSON lines, and every number a user can
/// type at its extremes.
final class SamplingCLITests: XCTestCase {
    var directory: URL!
    var checkpoint: String!

    override func setUpWithError() throws {
        directory = try TestPaths.temporaryDirectory()
        checkpoint = directory.appendingPathComponent("model.rnnd").path
        try TestModels.write(to: checkpoint)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func rnnDist(_ arguments: [String], timeout: TimeInterval = 60) throws -> ProcessResult {
        let result = try runProcess(TestPaths.executable, arguments, directory: directory, timeout: timeout)
        XCTAssertFalse(result.timedOut, "rnn-dist \(arguments.joined(separator: " ")) hung")
        return result
    }

    func sample(_ arguments: [String]) throws -> ProcessResult {
        let result = try rnnDist(["sample", "--checkpoint", checkpoint] + arguments)
        XCTAssertEqual(result.status, 0, "sample \(arguments): \(result.stderr)")
        return result
    }

    func jsonLines(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }

    /// A sample as long as anyone could ask for ends quietly, at once, when its reader closes
    /// the pipe: exit 0, no message, the bytes the reader took.
    func testSampleStreamsIntoAPipeThatClosesAndExitsZero() throws {
        for length in ["100000000", "10000000000"] {
            let started = Date()
            let script = #"( "$0" sample --checkpoint "$1" --length "$2"; echo "exit $?" >&2 ) | head -c 20 > head.out"#
            let result = try runProcess(URL(fileURLWithPath: "/bin/sh"), ["-c", script, TestPaths.executable.path, checkpoint, length],
                                        directory: directory, timeout: 60)
            XCTAssertFalse(result.timedOut, "the sample did not end when the pipe closed")
            XCTAssertLessThan(Date().timeIntervalSince(started), 20)
            XCTAssertEqual(result.stderr, "exit 0\n", "--length \(length)")
            let head = try Data(contentsOf: directory.appendingPathComponent("head.out"))
            XCTAssertEqual(head.count, 20)
            let start = try sample(["--length", "30"]).stdout
            XCTAssertTrue(Data(start.utf8).starts(with: head), "the pipe saw the sample's first bytes")
        }
    }

    /// Every number of sample and predict, at 0, denormal, huge, NaN, negative and infinite:
    /// it works, or it is refused with exit status 2 and one line — never a signal.
    func testEveryNumberAtItsExtremesWorksOrIsRefusedInOneLine() throws {
        let refused: [([String], String)] = [
            (["--temperature", "0"], "--temperature"), (["--temperature", "-1"], "--temperature"),
            (["--temperature", "nan"], "--temperature"), (["--temperature", "inf"], "--temperature"),
            (["--temperature", "1e400"], "--temperature"), (["--temperature", "-inf"], "--temperature"),
            (["--top-k", "0"], "--top-k"), (["--top-k", "-5"], "top-k"), (["--top-k", "1e30"], "top-k"),
            (["--length", "-1"], "length"), (["--length", "1e10"], "length"), (["--length", "99999999999999999999"], "length"),
            (["--count", "0"], "--count"), (["--count", "-2"], "count"),
            (["--count", "1000000000"], "more than the 1 GiB"), (["--count", "2", "--length", "10000000000"], "more than the 1 GiB"),
            (["--count", "\(Int.max)"], "more than the 1 GiB"), (["--json", "--length", "10000000000"], "more than the 1 GiB"),
            (["--beam", "0"], "--beam"), (["--beam", "-1"], "beam"), (["--beam", "100000000"], "more than the 1 GiB"),
            (["--beam", "4", "--length", "10000000000"], "more than the 1 GiB"), (["--beam", "\(Int.max)", "--length", "\(Int.max)"], "more than the 1 GiB"),
            (["--beam", "2", "--count", "3"], "--count 3 is more than --beam 2"), (["--beam", "2", "--greedy"], "--beam"),
            (["--beam", "2", "--temperature", "0.5"], "--beam"),
            (["--seed", "-1"], "seed"), (["--seed", "18446744073709551616"], "seed"), (["--seed", "nan"], "seed"),
            (["--stop", ""], "--stop"),
        ]
        for (arguments, fragment) in refused {
            let result = try rnnDist(["sample", "--checkpoint", checkpoint, "--length", "5"] + arguments)
            assertUsageError(result, mentions: [fragment])
        }
        for arguments in [["--top", "0"], ["--top", "-1"], ["--top", "1e3"], ["--top", "nan"]] {
            assertUsageError(try rnnDist(["predict", "--checkpoint", checkpoint, "--text", "ab"] + arguments), mentions: ["top"])
        }

        let greedy = try sample(["--greedy", "--length", "40"]).stdout
        for temperature in ["1e-320", "5e-324", "1e-30"] {
            XCTAssertEqual(try sample(["--temperature", temperature, "--length", "40"]).stdout, greedy, "T = \(temperature) is the greedy limit")
        }
        XCTAssertEqual(try sample(["--top-k", "1", "--length", "40"]).stdout, greedy)
        for arguments in [["--temperature", "1e300"], ["--temperature", "1.7976931348623157e308"], ["--top-k", "99999999999"],
                          ["--top-k", "\(Int.max)"], ["--seed", "18446744073709551615"], ["--seed", "0"], ["--length", "0"],
                          ["--beam", "3", "--count", "3", "--length", "0"], ["--count", "3", "--greedy"]] {
            _ = try sample(["--length", "30"] + arguments)
        }
        XCTAssertEqual(try sample(["--length", "0", "--prime", "abc"]).stdout, "abc\n")
        let everything = try rnnDist(["predict", "--checkpoint", checkpoint, "--text", "ab", "--top", "99999999999"])
        XCTAssertEqual(everything.status, 0, everything.stderr)
        XCTAssertEqual(everything.stdout.split(separator: "\n").count, TestModels.chars.count, "--top beyond V lists every token")
    }

    /// `--stop`: the same seed's unstopped sample, cut before the first match in the generated
    /// part; a match inside the prime does not count; several stop texts, the first match wins.
    func testStopCutsTheUnstoppedSampleBeforeTheFirstMatch() throws {
        let prime = "ab"
        let full = try sample(["--seed", "3", "--length", "300", "--prime", prime]).stdout
        let generated = String(full.dropFirst(prime.count).dropLast())      // the trailing newline
        XCTAssertEqual(generated.count, 300)
        let characters = Array(generated)
        let stop = String(characters[60..<62])
        let cut = try XCTUnwrap(generated.range(of: stop))
        let stopped = try sample(["--seed", "3", "--length", "300", "--prime", prime, "--stop", stop, "--show-logprob"]).stdout
        let expected = prime + generated[..<cut.lowerBound] + "\n"
        XCTAssertTrue(stopped.hasPrefix(expected), "\(stopped) should begin \(expected)")
        XCTAssertTrue(stopped.hasSuffix(" over \(generated[..<cut.lowerBound].unicodeScalars.count) tokens\n"), stopped)

        // A match that begins in the prime does not count; the earlier of two stop texts wins.
        let straddling = "b" + String(characters[0])
        let afterPrime = try sample(["--seed", "3", "--length", "300", "--prime", prime, "--stop", straddling]).stdout
        XCTAssertEqual(afterPrime, generated.range(of: straddling).map { prime + generated[..<$0.lowerBound] + "\n" } ?? full)
        let other = String(characters[20])
        let firstOfTwo = try sample(["--seed", "3", "--length", "300", "--prime", prime, "--stop", stop, "--stop", other]).stdout
        let early = [generated.range(of: stop)!.lowerBound, generated.range(of: other)!.lowerBound].min()!
        XCTAssertEqual(firstOfTwo, prime + generated[..<early] + "\n")
        XCTAssertEqual(try sample(["--seed", "3", "--length", "300", "--prime", prime, "--stop", "never"]).stdout, full)

        // With --count, each sample ends at its own first match.
        let samples = try jsonLines(try sample(["--seed", "3", "--length", "200", "--count", "3", "--json"]).stdout)
        let stoppedSamples = try jsonLines(try sample(["--seed", "3", "--length", "200", "--count", "3", "--json", "--stop", "a"]).stdout)
        for (whole, cutOne) in zip(samples, stoppedSamples) {
            let text = whole["text"] as! String
            XCTAssertEqual(cutOne["text"] as? String, String(text[..<(text.range(of: "a")?.lowerBound ?? text.endIndex)]))
            XCTAssertEqual(cutOne["stopped"] as? Bool, text.contains("a"))
        }
    }

    /// `--count N`: N different samples in one run, the same for the same seed, the first the
    /// one `--count 1` draws, as text under headers or as JSON lines that agree with the text.
    func testCountDrawsReproducibleSamplesAsTextOrJSONLines() throws {
        let arguments = ["--seed", "5", "--length", "80", "--count", "3", "--prime", "a", "--show-logprob"]
        let text = try sample(arguments).stdout
        XCTAssertEqual(try sample(arguments).stdout, text, "the same seed gives the same samples")
        XCTAssertNotEqual(try sample(["--seed", "6"] + arguments.dropFirst(2)).stdout, text)
        let parts = text.components(separatedBy: "--- sample ").dropFirst()
        XCTAssertEqual(parts.count, 3, text)
        let json = try jsonLines(try sample(arguments + ["--json"]).stdout)
        XCTAssertEqual(json.count, 3)
        for (i, (part, object)) in zip(parts, json).enumerated() {
            XCTAssertTrue(part.hasPrefix("\(i + 1) of 3 ---\na"), part)
            XCTAssertEqual(object["sample"] as? Int, i + 1)
            XCTAssertEqual(object["prime"] as? String, "a")
            let body = "a" + (object["text"] as! String) + "\n"
            XCTAssertTrue(part.contains(body), "JSON text \(body) is the printed text \(part)")
            XCTAssertEqual(object["tokens"] as? Int, 80)
            let logprob = try XCTUnwrap(object["logprob"] as? Double)
            XCTAssertTrue(part.hasSuffix(String(format: "logprob %.6f over 80 tokens\n", logprob)), part)
        }
        XCTAssertEqual(Set(json.map { $0["text"] as! String }).count, 3, "independent samples differ")
        let single = try sample(["--seed", "5", "--length", "80", "--prime", "a", "--json"]).stdout
        XCTAssertEqual(try jsonLines(single)[0]["text"] as? String, json[0]["text"] as? String)
    }

    /// Beam search: width 1 is greedy decoding; wider beams are distinct, best first, and no
    /// worse than greedy here; every decoder's log-probability is the sum of the next-token
    /// log-probabilities `predict` gives along its text.
    func testBeamSearchAndLogprobsCompareDecoders() throws {
        let greedy = try jsonLines(try sample(["--greedy", "--length", "12", "--prime", "ab", "--json", "--show-logprob"]).stdout)[0]
        let beamOne = try jsonLines(try sample(["--beam", "1", "--length", "12", "--prime", "ab", "--json", "--show-logprob"]).stdout)[0]
        XCTAssertEqual(beamOne["text"] as? String, greedy["text"] as? String)
        XCTAssertEqual(try XCTUnwrap(beamOne["logprob"] as? Double), try XCTUnwrap(greedy["logprob"] as? Double), accuracy: 1e-9)
        XCTAssertEqual(try sample(["--beam", "1", "--length", "40"]).stdout, try sample(["--greedy", "--length", "40"]).stdout)

        let beams = try jsonLines(try sample(["--beam", "6", "--count", "4", "--length", "12", "--prime", "ab", "--json", "--show-logprob"]).stdout)
        XCTAssertEqual(beams.count, 4)
        XCTAssertEqual(Set(beams.map { $0["text"] as! String }).count, 4, "distinct beams")
        let scores = beams.map { $0["logprob"] as! Double }
        XCTAssertEqual(scores, scores.sorted(by: >), "best first")
        XCTAssertGreaterThanOrEqual(scores[0], greedy["logprob"] as! Double - 1e-9)

        for decoded in [greedy, beams[0], beams[3]] {
            let text = Array((decoded["text"] as! String).unicodeScalars)
            var total = 0.0
            for i in text.indices {
                let context = "ab" + String(String.UnicodeScalarView(text[..<i]))
                let next = try jsonLines(try rnnDist(["predict", "--checkpoint", checkpoint, "--text", context, "--json", "--top", "100"]).stdout)
                total += try XCTUnwrap(next.first { $0["token"] as? String == String(text[i]) }?["logprob"] as? Double)
            }
            XCTAssertEqual(decoded["logprob"] as! Double, total, accuracy: 1e-4)
        }
    }

    /// `predict --json`: one object a token, the same ranking and probabilities as the text.
    func testPredictPrintsJSONLines() throws {
        let text = try rnnDist(["predict", "--checkpoint", checkpoint, "--text", "a €", "--top", "4"])
        let json = try rnnDist(["predict", "--checkpoint", checkpoint, "--text", "a €", "--top", "4", "--json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let objects = try jsonLines(json.stdout)
        let lines = text.stdout.split(separator: "\n")
        XCTAssertEqual(objects.count, 4)
        for (object, line) in zip(objects, lines) {
            let fields = line.split(separator: "\t")
            let probability = try XCTUnwrap(object["probability"] as? Double)
            XCTAssertEqual(String(format: "%.6f", probability), String(fields[0]))
            XCTAssertEqual(try JSONDecoder().decode(String.self, from: Data(fields[1].utf8)), object["token"] as? String)
            XCTAssertEqual(Foundation.log(probability), try XCTUnwrap(object["logprob"] as? Double), accuracy: 1e-12)
            let id = try XCTUnwrap(object["id"] as? Int)
            XCTAssertEqual(TestModels.chars.decode([Int32(id)]), object["token"] as? String)
        }
    }

    /// What is printed a piece at a time is exactly the decoded text of the tokens drawn, for
    /// multi-byte characters, bytes that are not valid UTF-8, and words with their spacing.
    func testStreamedTextIsTheDecodedTokensForEveryTokenizer() throws {
        for (name, vocabulary) in [("chars", TestModels.chars), ("bytes", Vocabulary.bytes), ("words", TestModels.words)] {
            let path = directory.appendingPathComponent("\(name).rnnd").path
            let model = try TestModels.write(to: path, vocabulary: vocabulary)
            let prime = name == "words" ? "the cat" : "a"
            var pieces: [[UInt8]] = []
            let summaries = try model.sample(.init(prime: prime, length: 400, seed: 11)) { _, bytes in pieces.append(bytes) }
            var random = RandomSource(seed: 11)
            let primeTokens = try model.encode(prime, what: "prime")
            let tokens = Sampler(model: model.model, parameters: model.parameters)
                .generate(prime: primeTokens, length: 400, temperature: 1, topK: nil, greedy: false, random: &random)
            let whole = Array(vocabulary.decode(primeTokens + tokens).utf8)
            XCTAssertEqual(Array(try model.primeText(prime).utf8) + pieces.flatMap { $0 }, whole, name)
            XCTAssertGreaterThan(pieces.count, 50, "\(name): streamed, not printed at the end")
            XCTAssertEqual(summaries.map(\.tokens), [400])
            XCTAssertEqual(summaries.map(\.stopped), [false])

            let printed = try rnnDist(["sample", "--checkpoint", path, "--prime", prime, "--length", "400", "--seed", "11"])
            XCTAssertEqual(printed.status, 0, printed.stderr)
            XCTAssertEqual(Array(printed.stdout.utf8), whole + [10], name)
        }
    }
}
