import Foundation
import Logging
import Synchronization

/// A swift-log handler writing one JSON object per record to standard error (`--log-format json`):
///
/// ```
/// {"timestamp":"2026-12-07T10:00:00.123Z","level":"info","label":"metarec","message":"listening",
///  "metadata":{"address":"http://127.0.0.1:8080"},"source":"MetaRecServer"}
/// ```
///
/// Keys are sorted; metadata values are strings, or arrays / objects of them. One write per
/// record, under a lock, so records of concurrent threads do not interleave.
struct JSONLinesLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    /// Where records go (standard error; tests pass their own).
    let write: @Sendable ([UInt8]) -> Void

    init(label: String, write: @escaping @Sendable ([UInt8]) -> Void = JSONLinesLogHandler.standardError) {
        self.label = label
        self.write = write
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var object: [String: Any] = [
            "timestamp": Self.timestamp(), "level": event.level.rawValue, "label": label,
            "message": event.message.description, "source": event.source,
        ]
        if !merged.isEmpty { object["metadata"] = merged.mapValues(Self.json) }
        if let error = event.error { object["error"] = "\(error)" }
        guard var line = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return
        }
        line.append(UInt8(ascii: "\n"))
        write(Array(line))
    }

    static func json(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let s): s
        case .stringConvertible(let c): c.description
        case .array(let a): a.map(json)
        case .dictionary(let d): d.mapValues(json)
        }
    }

    static func timestamp() -> String {
        Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(Date())
    }

    private static let lock = Mutex(())

    @Sendable static func standardError(_ bytes: [UInt8]) {
        lock.withLock { _ in FileHandle.standardError.write(Data(bytes)) }
    }
}
