import Foundation

/// Rank 0's progress display: on a terminal, one live line redrawn in place; in a
/// batch log, a plain line per `log.every` steps. It writes through `Console`: a reader that
/// goes away ends the printing, never the run.
public final class Progress {
    public let isTerminal: Bool
    private let totalSteps: Int
    private var lastDraw = Date.distantPast

    public init(totalSteps: Int, isTerminal: Bool) {
        self.totalSteps = totalSteps
        self.isTerminal = isTerminal
    }

    /// Redraws the live line (at most ten times a second).
    public func update(step: Int, epoch: Int, loss: Double, tokensPerSecond: Double, elapsed: Double) {
        guard isTerminal else { return }
        let now = Date()
        guard step == totalSteps || now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        let fraction = Double(step) / Double(max(totalSteps, 1))
        let width = 24
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let eta = step > 0 ? elapsed / Double(step) * Double(totalSteps - step) : 0
        let text = "\r\(bar) step \(step)/\(totalSteps) epoch \(epoch) loss \(format(loss, 3)) bpc \(format(loss / M_LN2, 3)) \(Self.rate(tokensPerSecond)) ETA \(Self.duration(eta))\u{1B}[K"
        Console.out(text)
    }

    /// A line that stays: above the live line on a terminal, on its own in a log.
    public func line(_ text: String) {
        let prefix = isTerminal ? "\r\u{1B}[K" : ""
        Console.out(prefix + text + "\n")
    }

    public func finish() {
        if isTerminal { Console.out("\n") }
    }

    public static func rate(_ tokensPerSecond: Double) -> String {
        tokensPerSecond >= 1e6 ? "\(format(tokensPerSecond / 1e6, 2))M tok/s" : "\(format(tokensPerSecond / 1e3, 1))k tok/s"
    }

    /// "392 MiB", "3071 MiB", "12.5 GiB".
    public static func bytes(_ bytes: Double) -> String {
        bytes >= 10 * 1_073_741_824 ? "\(format(bytes / 1_073_741_824, 1)) GiB" : "\(format(bytes / 1_048_576, 0)) MiB"
    }

    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}

func format(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }
