/// An error a user can act on, printed as one line. `isInputError` selects exit status 2 (bad
/// usage, config or input, SPEC §7); every other failure exits 1.
public struct RNNDistError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public let isInputError: Bool

    public static func input(_ message: String) -> RNNDistError { .init(message: message, isInputError: true) }
    public static func runtime(_ message: String) -> RNNDistError { .init(message: message, isInputError: false) }

    public var description: String { message }
    public var exitCode: Int32 { isInputError ? 2 : 1 }
}
