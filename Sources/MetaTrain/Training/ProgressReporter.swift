import Foundation

/// Progress output for long work: a live line rewritten in place on a terminal, plain lines
/// at a slower pace otherwise (logs, CI). Writes to standard error so standard output stays
/// machine-readable.
public final class ProgressReporter: @unchecked Sendable {
    private let isTerminal: Bool
    private let interval: Double
    private var lastPrint = 0.0
    private var lineOpen = false
    private let quiet: Bool

    /// - Parameter quiet: print nothing (tests).
    public init(quiet: Bool = false) {
        self.quiet = quiet
        self.isTerminal = isatty(STDERR_FILENO) != 0
        self.interval = isTerminal ? 0.25 : 10
    }

    /// Updates the live line, at most every 0.25 s on a terminal or 10 s otherwise.
    public func update(_ text: @autoclosure () -> String) {
        guard !quiet else { return }
        let now = Date().timeIntervalSince1970
        guard now - lastPrint >= interval else { return }
        lastPrint = now
        if isTerminal {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + text()).utf8))
            lineOpen = true
        } else {
            FileHandle.standardError.write(Data((text() + "\n").utf8))
        }
    }

    /// Prints a permanent line (ending any live line first).
    public func line(_ text: String) {
        guard !quiet else { return }
        if lineOpen {
            FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
            lineOpen = false
        }
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

/// `12345.6` → `"12346"`, `0.51234` → `"0.5123"`: compact numbers for progress lines.
func compact(_ x: Double, decimals: Int = 4) -> String {
    guard x.isFinite else { return "\(x)" }
    return String(format: "%.\(decimals)f", x)
}

/// Seconds as `1h02m`, `3m05s` or `42s`.
func duration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m" }
    if s >= 60 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
    return "\(s)s"
}
