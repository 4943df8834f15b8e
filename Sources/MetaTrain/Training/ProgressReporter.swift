import Foundation
import Logging

/// Progress output for long work: a live line rewritten in place on a terminal (standard
/// error), and everything else (permanent lines, job events, and the progress itself when
/// standard error is not a terminal, at a slower pace) as records of the process's `Logger`,
/// so a job's output has the one format of the process (`--log-format`).
public final class ProgressReporter: @unchecked Sendable {
    private let isTerminal: Bool
    private let interval: Double
    private var lastPrint = 0.0
    private var lineOpen = false
    private let quiet: Bool
    /// Where lines and events go.
    public let logger: Logger

    /// - Parameters:
    ///   - logger: the process's logger.
    ///   - quiet: print no live line and log nothing (tests).
    public init(logger: Logger = Logger(label: "metarec"), quiet: Bool = false) {
        self.quiet = quiet
        self.logger = logger
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
            logger.info("\(text())", metadata: ["event": "progress"])
        }
    }

    /// Logs a permanent line at `info` (ending any live line first).
    public func line(_ text: String) {
        log(.info, text)
    }

    /// Logs a job event (bad rows skipped, checkpoint written, early stop…), ending any live line first.
    public func log(_ level: Logger.Level, _ message: String, metadata: Logger.Metadata = [:]) {
        guard !quiet else { return }
        if lineOpen {
            FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
            lineOpen = false
        }
        logger.log(level: level, "\(message)", metadata: metadata)
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
