import Foundation
import Model
import Kernels  // Float: KernelScalar, for LanguageModel<Float>

extension Checkpoint {
    /// The JSON part of a checkpoint: the config, vocabulary, model shape, parameter layout,
    /// where the run stood and the optimizer's scalars. Read strictly (`decode`): an unknown or
    /// missing field, a value of the wrong type or an unknown name is an error naming the field,
    /// never a default. Written with every field present, an absent or non-finite number as null.
    public struct Header: Codable, Sendable, Equatable {
        public var config: String              // the config document (JSON text)
        public var tokenizer: String
        public var symbols: [UInt32]           // the vocabulary (char, byte)
        public var words: [String]?            // the vocabulary (word)
        public var cell: String
        public var activation: String
        public var hidden: Int
        public var layers: Int
        public var tensors: [String]           // "name:d0xd1" in layout order
        public var step: Int                   // optimizer steps taken
        public var epoch: Int                  // the epoch of the next step (1-based)
        public var chunk: Int                  // the next chunk of that epoch (the data cursor)
        public var batchSize: Int
        public var seqLength: Int
        public var random: UInt64              // RandomSource state (rank 0's samples during training)
        public var intervalNats: Double        // logging accumulators since the last log line
        public var intervalTokens: Double
        public var intervalSteps: Int
        public var optimizer: String
        public var optimizerSteps: Int
        public var learningRate: Double
        public var optimizerStateCount: Int
        public var lastValidationLoss: Double?
        public var bestValidationLoss: Double?
        public var validationsSinceBest: Int   // since version 2: for train.early_stop
        public var parameterCount: Int
        public var stateCount: Int
        /// What the data cursor means (`DataIdentity`); since version 2 (nil in version 1).
        public var data: DataIdentity?

        /// The header of a checkpoint of `model`, trained on `vocabulary`, at `position`.
        public init(config: String, vocabulary: Vocabulary, model: LanguageModel<Float>, position: RunPosition,
                    optimizer: OptimizerRecord, stateCount: Int, data: DataIdentity? = nil) {
            self.config = config
            (tokenizer, symbols) = (vocabulary.tokenizer.rawValue, vocabulary.symbols)
            words = vocabulary.tokenizer == .word ? vocabulary.words : nil
            (cell, activation) = (model.shape.cell.rawValue, model.shape.activation.rawValue)
            (hidden, layers, tensors) = (model.shape.hidden, model.shape.layers, Checkpoint.describe(model.layout))
            parameterCount = model.layout.count
            (step, epoch, chunk) = (position.step, position.epoch, position.chunk)
            (batchSize, seqLength, random) = (position.batchSize, position.seqLength, position.random)
            (intervalNats, intervalTokens, intervalSteps) = (position.intervalNats, position.intervalTokens, position.intervalSteps)
            (lastValidationLoss, bestValidationLoss) = (position.lastValidationLoss, position.bestValidationLoss)
            validationsSinceBest = position.validationsSinceBest
            (self.optimizer, optimizerSteps, learningRate) = (optimizer.kind, optimizer.steps, optimizer.learningRate)
            optimizerStateCount = optimizer.stateCount
            self.stateCount = stateCount
            self.data = data
        }

        public var position: RunPosition {
            RunPosition(step: step, epoch: epoch, chunk: chunk, batchSize: batchSize, seqLength: seqLength,
                        random: random, intervalNats: intervalNats, intervalTokens: intervalTokens,
                        intervalSteps: intervalSteps, lastValidationLoss: lastValidationLoss,
                        bestValidationLoss: bestValidationLoss, validationsSinceBest: validationsSinceBest)
        }

        public var optimizerRecord: OptimizerRecord {
            OptimizerRecord(kind: optimizer, steps: optimizerSteps, learningRate: learningRate, stateCount: optimizerStateCount)
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case config, tokenizer, symbols, words, cell, activation, hidden, layers, tensors, step, epoch, chunk
            case batchSize, seqLength, random, intervalNats, intervalTokens, intervalSteps, optimizer, optimizerSteps
            case learningRate, optimizerStateCount, lastValidationLoss, bestValidationLoss, validationsSinceBest
            case parameterCount, stateCount, data
        }

        /// What a version-1 header lacks: read there as no validation since the best and no
        /// data record.
        static let addedInVersion2: Set<CodingKeys> = [.validationsSinceBest, .data]

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            config = try c.decode(String.self, forKey: .config); tokenizer = try c.decode(String.self, forKey: .tokenizer)
            symbols = try c.decode([UInt32].self, forKey: .symbols); words = try c.decode([String]?.self, forKey: .words)
            cell = try c.decode(String.self, forKey: .cell); activation = try c.decode(String.self, forKey: .activation)
            hidden = try c.decode(Int.self, forKey: .hidden); layers = try c.decode(Int.self, forKey: .layers)
            tensors = try c.decode([String].self, forKey: .tensors); step = try c.decode(Int.self, forKey: .step)
            epoch = try c.decode(Int.self, forKey: .epoch); chunk = try c.decode(Int.self, forKey: .chunk)
            batchSize = try c.decode(Int.self, forKey: .batchSize); seqLength = try c.decode(Int.self, forKey: .seqLength)
            random = try c.decode(UInt64.self, forKey: .random); intervalNats = try c.decode(Double.self, forKey: .intervalNats)
            intervalTokens = try c.decode(Double.self, forKey: .intervalTokens)
            intervalSteps = try c.decode(Int.self, forKey: .intervalSteps)
            optimizer = try c.decode(String.self, forKey: .optimizer); optimizerSteps = try c.decode(Int.self, forKey: .optimizerSteps)
            learningRate = try c.decode(Double.self, forKey: .learningRate)
            optimizerStateCount = try c.decode(Int.self, forKey: .optimizerStateCount)
            lastValidationLoss = try c.decode(Double?.self, forKey: .lastValidationLoss)
            bestValidationLoss = try c.decode(Double?.self, forKey: .bestValidationLoss)
            validationsSinceBest = try c.decodeIfPresent(Int.self, forKey: .validationsSinceBest) ?? 0
            parameterCount = try c.decode(Int.self, forKey: .parameterCount); stateCount = try c.decode(Int.self, forKey: .stateCount)
            data = try c.decodeIfPresent(DataIdentity.self, forKey: .data)
        }

        /// Every field, an absent or non-finite number as null (JSON has no NaN).
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            func finite(_ value: Double?) -> Double? { value.flatMap { $0.isFinite ? $0 : nil } }
            try c.encode(config, forKey: .config); try c.encode(tokenizer, forKey: .tokenizer)
            try c.encode(symbols, forKey: .symbols); try c.encode(words, forKey: .words)
            try c.encode(cell, forKey: .cell); try c.encode(activation, forKey: .activation)
            try c.encode(hidden, forKey: .hidden); try c.encode(layers, forKey: .layers)
            try c.encode(tensors, forKey: .tensors); try c.encode(step, forKey: .step)
            try c.encode(epoch, forKey: .epoch); try c.encode(chunk, forKey: .chunk)
            try c.encode(batchSize, forKey: .batchSize); try c.encode(seqLength, forKey: .seqLength)
            try c.encode(random, forKey: .random); try c.encode(finite(intervalNats), forKey: .intervalNats)
            try c.encode(finite(intervalTokens), forKey: .intervalTokens); try c.encode(intervalSteps, forKey: .intervalSteps)
            try c.encode(optimizer, forKey: .optimizer); try c.encode(optimizerSteps, forKey: .optimizerSteps)
            try c.encode(finite(learningRate), forKey: .learningRate)
            try c.encode(optimizerStateCount, forKey: .optimizerStateCount)
            try c.encode(finite(lastValidationLoss), forKey: .lastValidationLoss)
            try c.encode(finite(bestValidationLoss), forKey: .bestValidationLoss)
            try c.encode(validationsSinceBest, forKey: .validationsSinceBest)
            try c.encode(parameterCount, forKey: .parameterCount); try c.encode(stateCount, forKey: .stateCount)
            try c.encode(data, forKey: .data)
        }

        /// The header of a checkpoint of format `version`, or an error naming the field at fault
        /// (`corrupt` turns a reason into the error).
        static func decode(_ json: Data, version: UInt32, corrupt: (String) -> RNNDistError) throws -> Header {
            // The field names are checked on a parsed copy; the values are decoded from the text
            // itself (a JSONValue holds numbers as Double, which would round the RNG's UInt64).
            guard case .object(let fields)? = try? JSONValue.parse(json) else { throw corrupt("unreadable header") }
            let known = Set(CodingKeys.allCases.map(\.rawValue))
            if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
                throw corrupt("unknown header field '\(unknown)'")
            }
            let optionalHere = version == 1 ? addedInVersion2 : []
            if let missing = CodingKeys.allCases.first(where: { fields[$0.rawValue] == nil && !optionalHere.contains($0) }) {
                throw corrupt("header field '\(missing.rawValue)' is missing")
            }
            let header: Header
            do {
                header = try JSONDecoder().decode(Header.self, from: json)
            } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
                    let DecodingError.dataCorrupted(context) {
                throw corrupt("header field '\(context.codingPath.first?.stringValue ?? "?")' has the wrong type")
            } catch {
                throw corrupt("unreadable header")
            }
            try header.validate(corrupt)
            return header
        }

        /// Names and sizes a model can be built from, checked before anything is allocated.
        func validate(_ corrupt: (String) -> RNNDistError) throws {
            func check(_ ok: Bool, _ field: CodingKeys, _ value: Any) throws {
                guard ok else { throw corrupt("header field '\(field.rawValue)' has an impossible value \(value)") }
            }
            try check(Tokenizer(rawValue: tokenizer) != nil && (tokenizer == "word") == (words != nil), .tokenizer, "\"\(tokenizer)\"")
            try check(CellType(rawValue: cell) != nil, .cell, "\"\(cell)\"")
            try check(Activation(rawValue: activation) != nil, .activation, "\"\(activation)\"")
            try check(OptimizerKind(rawValue: optimizer) != nil, .optimizer, "\"\(optimizer)\"")
            for (field, value) in [(CodingKeys.parameterCount, parameterCount), (.optimizerStateCount, optimizerStateCount),
                                   (.stateCount, stateCount), (.step, step), (.chunk, chunk), (.intervalSteps, intervalSteps),
                                   (.optimizerSteps, optimizerSteps), (.validationsSinceBest, validationsSinceBest)] {
                try check(value >= 0, field, value)
            }
            for (field, value) in [(CodingKeys.epoch, epoch), (.batchSize, batchSize), (.seqLength, seqLength)] {
                try check(value >= 1, field, value)
            }
            // Every product a model of this shape forms stays within its parameter count, so
            // building its layout cannot overflow.
            let V = tokenizer == "word" ? words?.count ?? 0 : symbols.count
            let gates = CellType(rawValue: cell)!.gates
            let (VH, o1) = V.multipliedReportingOverflow(by: hidden)
            let (GHH, o2) = (gates * max(hidden, 0)).multipliedReportingOverflow(by: hidden)
            try check(V >= 1 && hidden >= 1 && !o1 && !o2 && VH <= parameterCount && GHH <= parameterCount, .hidden, hidden)
            try check(layers >= 1 && layers <= parameterCount, .layers, layers)
        }
    }

    /// Where a run stood: the step, the data cursor and the batch shape it counts in, the
    /// sampling RNG, the logging sums since the last log line and the validation history.
    public struct RunPosition: Sendable, Equatable {
        public var step: Int                   // optimizer steps taken
        public var epoch: Int                  // the epoch of the next step (1-based)
        public var chunk: Int                  // the next chunk of that epoch
        public var batchSize: Int
        public var seqLength: Int
        public var random: UInt64
        public var intervalNats: Double
        public var intervalTokens: Double
        public var intervalSteps: Int
        public var lastValidationLoss: Double?
        public var bestValidationLoss: Double?
        public var validationsSinceBest: Int

        public init(step: Int, epoch: Int, chunk: Int, batchSize: Int, seqLength: Int, random: UInt64,
                    intervalNats: Double, intervalTokens: Double, intervalSteps: Int,
                    lastValidationLoss: Double?, bestValidationLoss: Double?, validationsSinceBest: Int = 0) {
            (self.step, self.epoch, self.chunk, self.batchSize, self.seqLength) = (step, epoch, chunk, batchSize, seqLength)
            (self.random, self.intervalNats, self.intervalTokens, self.intervalSteps) = (random, intervalNats, intervalTokens, intervalSteps)
            (self.lastValidationLoss, self.bestValidationLoss) = (lastValidationLoss, bestValidationLoss)
            self.validationsSinceBest = validationsSinceBest
        }
    }

    /// The optimizer's part: its rule, step count (Adam's bias correction), the learning rate
    /// the schedule had reached, and how many scalars of state follow the parameters.
    public struct OptimizerRecord: Sendable, Equatable {
        public var kind: String
        public var steps: Int
        public var learningRate: Double
        public var stateCount: Int

        public init(kind: String, steps: Int, learningRate: Double, stateCount: Int) {
            (self.kind, self.steps, self.learningRate, self.stateCount) = (kind, steps, learningRate, stateCount)
        }
    }
}
