import Foundation

/// Reads a JSON config, applies `--set section.key=value` overrides and checks every key:
/// an unknown key, a wrong type or an out-of-range value is an input error naming the key and
/// where it came from (the file, or the `--set` that gave it).
public enum ConfigLoader {
    public static func load(path: String, overrides: [String] = []) throws -> Config {
        guard FileManager.default.fileExists(atPath: path) else {
            throw RNNDistError.input("\(path): config file not found")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RNNDistError.input("\(path): config file is not readable")
        }
        let root: JSONValue
        do { root = try JSONValue.parse(data) } catch {
            throw RNNDistError.input("\(path): not valid JSON (\(describe(error)))")
        }
        let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        return try decode(root, source: path, name: stem, overrides: overrides)
    }

    /// Builds a config from a parsed document. `name` picks the default checkpoint and metrics
    /// locations (checkpoints/NAME, runs/NAME/metrics.jsonl).
    public static func decode(_ document: JSONValue, source: String, name: String,
                              overrides: [String] = []) throws -> Config {
        guard case .object(var root) = document else {
            throw RNNDistError.input("\(source): the config must be a JSON object with sections data, model, train, checkpoint, sample, log")
        }
        var overridden: Set<String> = []
        for assignment in overrides {
            let (section, key, value) = try parseOverride(assignment)
            guard sections.contains(section) else {
                throw RNNDistError.input("--set \(assignment): unknown section '\(section)' (sections: \(sections.joined(separator: ", ")))")
            }
            var members: [String: JSONValue] = [:]
            if case .object(let existing)? = root[section] { members = existing }
            members[key] = value
            root[section] = .object(members)
            overridden.insert("\(section).\(key)")
        }
        for key in root.keys where !sections.contains(key) {
            throw RNNDistError.input("\(source): unknown section '\(key)' (sections: \(sections.joined(separator: ", ")))")
        }
        func reader(_ section: String) throws -> SectionReader {
            switch root[section] {
            case nil: return SectionReader(section: section, members: [:], source: source, overridden: overridden)
            case .object(let members)?:
                return SectionReader(section: section, members: members, source: source, overridden: overridden)
            case let other?:
                throw RNNDistError.input("\(source): section '\(section)' must be an object (got \(other.shown))")
            }
        }

        var config = Config()
        config.source = source
        config.document = .object(root)
        config.checkpoint.dir = "checkpoints/\(name)"
        config.log.metrics = "runs/\(name)/metrics.jsonl"

        var data = try reader("data")
        try data.optionalString("path", &config.data.path)
        try data.choice("tokenizer", &config.data.tokenizer)
        try data.double("val_fraction", &config.data.valFraction, "a number in [0, 0.5]") { $0 >= 0 && $0 <= 0.5 }
        try data.optionalChoice("synthetic", &config.data.synthetic)
        try data.int("synthetic_tokens", &config.data.syntheticTokens, atLeast: 1000, atMost: 1 << 31)
        try data.int("vocab_size", &config.data.vocabSize, atLeast: 4)
        try data.finish()
        if config.data.path == nil && config.data.synthetic == nil {
            throw RNNDistError.input("\(source): data.path is missing (or set data.synthetic to \"sum_mod_26\" for the generated task)")
        }

        var model = try reader("model")
        try model.choice("cell", &config.model.cell)
        try model.choice("activation", &config.model.activation)
        try model.int("hidden_size", &config.model.hiddenSize, atLeast: 1)
        try model.int("layers", &config.model.layers, atLeast: 1)
        try model.double("dropout", &config.model.dropout, "a number in [0, 1)") { $0 >= 0 && $0 < 1 }
        try model.finish()

        var train = try reader("train")
        try train.int("batch_size", &config.train.batchSize, atLeast: 1, atMost: 1 << 24)
        try train.int("seq_length", &config.train.seqLength, atLeast: 1, atMost: 1 << 24)
        try train.int("accumulate", &config.train.accumulate, atLeast: 1)
        try train.int("epochs", &config.train.epochs, atLeast: 1)
        try train.optionalInt("max_steps", &config.train.maxSteps, atLeast: 1)
        try train.choice("optimizer", &config.train.optimizer)
        try train.double("lr", &config.train.lr, "a number > 0") { $0 > 0 }
        try train.double("momentum", &config.train.momentum, "a number in [0, 1)") { $0 >= 0 && $0 < 1 }
        try train.double("beta1", &config.train.beta1, "a number in [0, 1)") { $0 >= 0 && $0 < 1 }
        try train.double("beta2", &config.train.beta2, "a number in [0, 1)") { $0 >= 0 && $0 < 1 }
        try train.double("rho", &config.train.rho, "a number in [0, 1)") { $0 >= 0 && $0 < 1 }
        try train.double("eps", &config.train.eps, "a number > 0") { $0 > 0 }
        try train.choice("lr_schedule", &config.train.lrSchedule)
        try train.double("lr_decay", &config.train.lrDecay, "a number in (0, 1]") { $0 > 0 && $0 <= 1 }
        try train.int("lr_decay_every", &config.train.lrDecayEvery, atLeast: 1)
        try train.optionalDouble("clip_value", &config.train.clipValue, "a number > 0 or null") { $0 > 0 }
        try train.optionalDouble("clip_norm", &config.train.clipNorm, "a number > 0 or null") { $0 > 0 }
        try train.bool("carry_state", &config.train.carryState)
        try train.optionalInt("bptt_truncate", &config.train.bpttTruncate, atLeast: 1)
        try train.int("seed", &config.train.seed, atLeast: 0)
        try train.optionalInt("threads", &config.train.threads, atLeast: 1, atMost: 1024)
        try train.int("sync_check_every", &config.train.syncCheckEvery, atLeast: 1)
        try train.int("max_bad_steps", &config.train.maxBadSteps, atLeast: 1)
        try train.double("stall_timeout", &config.train.stallTimeout, "a number of seconds > 0") { $0 > 0 }
        try train.optionalInt("early_stop", &config.train.earlyStop, atLeast: 1)
        try train.bool("keep_optimizer", &config.train.keepOptimizer)
        try train.choice("allreduce_dtype", &config.train.allreduceDtype)
        try train.finish()

        var checkpoint = try reader("checkpoint")
        try checkpoint.string("dir", &config.checkpoint.dir)
        try checkpoint.int("every", &config.checkpoint.every, atLeast: 1)
        try checkpoint.int("keep", &config.checkpoint.keep, atLeast: 1)
        try checkpoint.finish()

        var sample = try reader("sample")
        try sample.int("every", &config.sample.every, atLeast: 1)
        try sample.int("length", &config.sample.length, atLeast: 0, atMost: 1_000_000)
        try sample.double("temperature", &config.sample.temperature, "a number > 0") { $0 > 0 }
        try sample.string("prime", &config.sample.prime)
        try sample.finish()

        var log = try reader("log")
        try log.int("every", &config.log.every, atLeast: 1)
        try log.optionalInt("val_every", &config.log.valEvery, atLeast: 1)
        try log.optionalString("metrics", &config.log.metrics)
        try log.finish()
        return config
    }

    static let sections = ["data", "model", "train", "checkpoint", "sample", "log"]

    /// "train.lr=0.02" → ("train", "lr", 0.02). The value is JSON when it parses as JSON
    /// (numbers, true/false, null, "quoted"), else the bare text (paths).
    static func parseOverride(_ assignment: String) throws -> (String, String, JSONValue) {
        guard let equals = assignment.firstIndex(of: "=") else {
            throw RNNDistError.input("--set \(assignment): expected KEY=VALUE, e.g. --set train.lr=0.02")
        }
        let path = assignment[..<equals].split(separator: ".", omittingEmptySubsequences: false)
        guard path.count == 2, !path[0].isEmpty, !path[1].isEmpty else {
            throw RNNDistError.input("--set \(assignment): the key must be section.key, e.g. train.lr")
        }
        let text = String(assignment[assignment.index(after: equals)...])
        let value = (try? JSONValue.parse(Data(text.utf8))) ?? .string(text)
        return (String(path[0]), String(path[1]), value)
    }

    static func describe(_ error: Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error {
            let underlying = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return underlying ?? context.debugDescription
        }
        return String(describing: error)
    }
}

/// Pulls typed values out of one section, remembering which keys it read so that `finish` can
/// reject the rest.
struct SectionReader {
    let section: String
    let members: [String: JSONValue]
    let source: String
    let overridden: Set<String>
    private var read: Set<String> = []

    init(section: String, members: [String: JSONValue], source: String, overridden: Set<String>) {
        self.section = section
        self.members = members
        self.source = source
        self.overridden = overridden
    }

    private func where_(_ key: String) -> String {
        overridden.contains("\(section).\(key)") ? "--set \(section).\(key)" : "\(source): \(section).\(key)"
    }

    private func fail(_ key: String, _ expectation: String, _ value: JSONValue) -> RNNDistError {
        .input("\(where_(key)) must be \(expectation) (got \(value.shown))")
    }

    private mutating func take(_ key: String) -> JSONValue? {
        read.insert(key)
        return members[key]
    }

    mutating func int(_ key: String, _ target: inout Int, atLeast minimum: Int, atMost maximum: Int = .max) throws {
        var optional: Int? = target
        try optionalInt(key, &optional, atLeast: minimum, atMost: maximum, nullable: false)
        target = optional!
    }

    mutating func optionalInt(_ key: String, _ target: inout Int?, atLeast minimum: Int, atMost maximum: Int = .max,
                              nullable: Bool = true) throws {
        guard let value = take(key) else { return }
        let expectation = maximum == .max ? "an integer >= \(minimum)" : (minimum == maximum
            ? "\(minimum) (other values are not supported yet)" : "an integer in \(minimum)...\(maximum)")
        switch value {
        case .null where nullable: target = nil
        // 2^63 itself is a Double that rounds Int.max up: it does not fit.
        case .number(let n) where n == n.rounded() && n >= Double(minimum) && n <= Double(maximum) && n < 0x1p63:
            target = Int(n)
        default: throw fail(key, expectation + (nullable ? " or null" : ""), value)
        }
    }

    mutating func double(_ key: String, _ target: inout Double, _ expectation: String,
                         _ valid: (Double) -> Bool) throws {
        guard let value = take(key) else { return }
        guard case .number(let n) = value, valid(n) else { throw fail(key, expectation, value) }
        target = n
    }

    mutating func optionalDouble(_ key: String, _ target: inout Double?, _ expectation: String,
                                 _ valid: (Double) -> Bool) throws {
        guard let value = take(key) else { return }
        switch value {
        case .null: target = nil
        case .number(let n) where valid(n): target = n
        default: throw fail(key, expectation, value)
        }
    }

    mutating func bool(_ key: String, _ target: inout Bool) throws {
        guard let value = take(key) else { return }
        guard case .bool(let b) = value else { throw fail(key, "true or false", value) }
        target = b
    }

    mutating func string(_ key: String, _ target: inout String, allowed: [String]? = nil) throws {
        guard let value = take(key) else { return }
        guard case .string(let s) = value, allowed?.contains(s) ?? true else {
            let expectation = allowed.map { "one of " + $0.map { "\"\($0)\"" }.joined(separator: ", ") } ?? "a string"
            throw fail(key, expectation, value)
        }
        target = s
    }

    mutating func optionalString(_ key: String, _ target: inout String?) throws {
        guard let value = take(key) else { return }
        switch value {
        case .null: target = nil
        case .string(let s): target = s
        default: throw fail(key, "a string or null", value)
        }
    }

    mutating func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ target: inout T) throws
    where T.RawValue == String {
        var optional: T? = target
        try optionalChoice(key, &optional, nullable: false)
        target = optional!
    }

    mutating func optionalChoice<T: RawRepresentable & CaseIterable>(_ key: String, _ target: inout T?,
                                                                     nullable: Bool = true) throws
    where T.RawValue == String {
        guard let value = take(key) else { return }
        if value == .null && nullable { target = nil; return }
        guard case .string(let s) = value, let choice = T(rawValue: s) else {
            let names = T.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            throw fail(key, "one of \(names)" + (nullable ? " or null" : ""), value)
        }
        target = choice
    }

    func finish() throws {
        guard let unknown = members.keys.sorted().first(where: { !read.contains($0) }) else { return }
        let origin = overridden.contains("\(section).\(unknown)") ? "--set \(section).\(unknown)" : source
        throw RNNDistError.input(
            "\(origin): unknown key \(section).\(unknown) (known keys of \(section): \(read.sorted().joined(separator: ", ")))")
    }
}
