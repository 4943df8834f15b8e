import ArgumentParser
import Foundation
import Logging
import Synchronization

/// `--log-level` and `--log-format`, shared by the commands that log (serve, train, eval, demo):
/// one swift-log handler for the whole process (Hummingbird's records included), bootstrapped
/// once. A flag wins over its environment variable (`LOG_LEVEL`, `LOG_FORMAT`), which wins over
/// the default (`info`, `text`).
struct LogOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default: LOG_LEVEL, else info).")
    var logLevel: String?

    @Option(help: "Log format on standard error: text, or json (one JSON object per line) (default: LOG_FORMAT, else text).")
    var logFormat: String?

    /// The record formats of standard error.
    enum Format: String, CaseIterable {
        /// swift-log's `StreamLogHandler`: `2026-12-07T10:00:00+0000 info metarec: key=value message`.
        case text
        /// ``JSONLinesLogHandler``: one object per line.
        case json
    }

    /// Level and format from the flags, then `environment(key)` for `log.level` / `log.format`.
    func resolve(environment: (String) -> String?) throws -> (Logger.Level, Format) {
        let levelText = logLevel ?? environment("log.level") ?? "info"
        guard let level = Logger.Level(rawValue: levelText.lowercased()) else {
            throw ValidationError("--log-level / LOG_LEVEL: \"\(levelText)\" is not one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let formatText = logFormat ?? environment("log.format") ?? "text"
        guard let format = Format(rawValue: formatText.lowercased()) else {
            throw ValidationError("--log-format / LOG_FORMAT: \"\(formatText)\" is not text or json")
        }
        return (level, format)
    }

    /// Bootstraps the process's log handler (once; a second call keeps the first) and returns the
    /// `metarec` logger.
    ///
    /// - Parameter environment: reads `log.level` / `log.format` (the process environment's
    ///   `LOG_LEVEL` / `LOG_FORMAT` by default; `metarec serve` passes its configuration reader).
    func bootstrap(environment: (String) -> String? = LogOptions.processEnvironment) throws -> Logger {
        let (level, format) = try resolve(environment: environment)
        LogOptions.bootstrapOnce(level: level, format: format)
        var logger = Logger(label: "metarec")
        logger.logLevel = level
        return logger
    }

    /// `log.level` → `LOG_LEVEL`, as swift-configuration's environment provider spells it.
    static func processEnvironment(_ key: String) -> String? {
        ProcessInfo.processInfo.environment[key.uppercased().replacingOccurrences(of: ".", with: "_")]
    }

    /// The format bootstrapped, once a command has.
    private static let bootstrapped = Mutex<Format?>(nil)

    /// A command's failure as the error to throw: with `--log-format json` it is logged first
    /// (`critical`, so standard error stays JSON lines) and the exit code says the rest; otherwise
    /// ArgumentParser's one error line.
    static func failure(_ message: String) -> any Error {
        guard bootstrapped.withLock({ $0 }) == .json else { return ValidationError(message) }
        Logger(label: "metarec").critical("\(message)")
        return ExitCode.failure
    }

    /// Whether records are JSON lines (`printError` then logs instead of printing).
    static var isJSON: Bool { bootstrapped.withLock { $0 } == .json }

    private static func bootstrapOnce(level: Logger.Level, format: Format) {
        guard bootstrapped.withLock({ done in defer { done = done ?? format }; return done == nil }) else { return }
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = switch format {
            case .text: StreamLogHandler.standardError(label: label)
            case .json: JSONLinesLogHandler(label: label)
            }
            handler.logLevel = level
            return handler
        }
    }
}
