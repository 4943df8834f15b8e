/// ``RedisSupportStore`` as a ``SupportRowStore``: its calls with ``RedisError`` mapped to
/// ``SupportStoreUnavailable`` (connection → `down`, timeout → `timeout`, the rest → `error`).
extension RedisSupportStore: SupportRowStore {
    public var isShared: Bool { true }
    public var location: String { address.description }

    /// ``append(tasks:features:labels:timestamps:)``: one pipelined round trip.
    public func appendRows(_ rows: SupportRows) throws(SupportStoreUnavailable) {
        do {
            try append(tasks: rows.tasks, features: rows.features, labels: rows.labels, timestamps: rows.timestamps)
        } catch {
            throw Self.unavailable(error)
        }
    }

    /// ``pull(tasks:features:labels:counts:timestamps:)``: one pipelined round trip for all tasks.
    public func pullRows(_ tasks: UnsafeBufferPointer<UInt64>, features: UnsafeMutableBufferPointer<Float>,
                         labels: UnsafeMutableBufferPointer<Float>, counts: UnsafeMutableBufferPointer<Int>) throws(SupportStoreUnavailable) {
        do {
            try pull(tasks: tasks, features: features, labels: labels, counts: counts)
        } catch {
            throw Self.unavailable(error)
        }
    }

    static func unavailable(_ error: RedisError) -> SupportStoreUnavailable {
        switch error {
        case .connection(let m), .badAddress(let m): SupportStoreUnavailable(cause: .down, message: "Redis: \(m)")
        case .timeout(let m): SupportStoreUnavailable(cause: .timeout, message: "Redis: \(m)")
        case .server(let m), .unexpectedReply(let m): SupportStoreUnavailable(cause: .error, message: "Redis: \(m)")
        }
    }
}
