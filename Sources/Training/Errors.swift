/// An error a user can act on, printed as one line. `isInputError` selects exit status 2 (bad
/// usage, config or input); every other failure exits 1.
public struct RNNDistError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public let isInputError: Bool
    /// Every rank raised this error at the same point (after an agreement among the ranks), so
    /// each can exit cleanly; an error only one rank knows of must abort the whole job instead.
    public var isAgreed = false
    /// Another rank reports this failure; this rank exits without a message.
    public var isSilent = false

    public static func input(_ message: String) -> RNNDistError { .init(message: message, isInputError: true) }
    public static func runtime(_ message: String) -> RNNDistError { .init(message: message, isInputError: false) }

    /// The same failure, known to every rank; only rank 0 prints it.
    public func agreed(rank: Int) -> RNNDistError {
        var copy = self
        copy.isAgreed = true
        copy.isSilent = rank != 0
        return copy
    }

    public var description: String { message }
    public var exitCode: Int32 { isInputError ? 2 : 1 }
}
