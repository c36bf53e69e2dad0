import Distributed

/// How ranks fail together. A rank that throws while the others go on to the next collective
/// would leave them waiting forever, so every fallible step of the set-up runs inside one of
/// these: after it, all ranks know whether any failed, and all throw.
extension Communicator {
    /// Runs `body` on every rank, then agrees (one allreduce) on whether it failed anywhere.
    /// A failing rank throws its own error — unless rank 0 failed too, in which case only rank 0
    /// reports (a bad config fails on every rank alike: one message, not P). Ranks that did not
    /// fail throw a silent error with the same exit status.
    public func agree<T>(_ body: () throws -> T) throws -> T {
        let outcome = Result { try body() }
        let failure: RNNDistError? = outcome.failureAsRNNDistError
        var flags: [Float] = [failure == nil ? 0 : 1,
                              failure?.isInputError == true ? 1 : 0,
                              rank == 0 && failure != nil ? 1 : 0]
        try flags.withUnsafeMutableBufferPointer { try allreduceSum($0) }
        guard flags[0] > 0 else { return try outcome.get() }
        let allInput = flags[1] == flags[0]
        if var failure, rank == 0 || flags[2] == 0 {
            failure.isAgreed = true
            throw failure
        }
        var silent = allInput ? RNNDistError.input("") : RNNDistError.runtime("")
        silent.isAgreed = true
        silent.isSilent = true
        throw silent
    }

    /// Runs `body` on rank 0 only and hands its result to every rank (two broadcasts: the
    /// length, then the values). A failure on rank 0 ends the step on every rank.
    public func fromRoot<T: BitwiseCopyable>(_ body: () throws -> [T]) throws -> [T] {
        var outcome: Result<[T], Error> = .success([])
        if rank == 0 { outcome = Result { try body() } }
        var header: [UInt64] = [0, 0, 0]   // failed, count, input error
        if rank == 0 {
            switch outcome {
            case .success(let values): header = [0, UInt64(values.count), 0]
            case .failure: header = [1, 0, outcome.failureAsRNNDistError!.isInputError ? 1 : 0]
            }
        }
        try header.withUnsafeMutableBytes { try broadcast($0, root: 0) }
        if header[0] == 1 {
            if rank == 0, var failure = outcome.failureAsRNNDistError { failure.isAgreed = true; throw failure }
            var silent = header[2] == 1 ? RNNDistError.input("") : RNNDistError.runtime("")
            silent.isAgreed = true
            silent.isSilent = true
            throw silent
        }
        var values = rank == 0 ? try outcome.get()
            : [T](unsafeUninitializedCapacity: Int(header[1])) { buffer, count in
                UnsafeMutableRawBufferPointer(buffer).initializeMemory(as: UInt8.self, repeating: 0)
                count = buffer.count
            }
        try values.withUnsafeMutableBytes { try broadcast($0, root: 0) }
        return values
    }
}

extension Result where Failure == Error {
    /// The failure as a user-facing error (anything else becomes a runtime error with its text).
    var failureAsRNNDistError: RNNDistError? {
        guard case .failure(let error) = self else { return nil }
        return error as? RNNDistError ?? .runtime(String(describing: error))
    }
}
