/// What serving needs of a support store (`docs/DESIGN.md` §Parameter server, §Serving fleet):
/// append a batch of rows, pull a batch of tasks' servable rows in one call, sweep, and the
/// model version rows are written under. ``SupportStore`` (in-process, the default) and
/// ``RedisSupportStore`` (shared by a fleet) conform; both serve the same rows for the same
/// append / pull / sweep / version sequence (the contract test).
///
/// ```
/// appendRows(rows)                       rows: n × (task, f: W floats, y: L floats, event time)
/// pullRows(tasks, F, Y, counts)          task i's newest servable rows, oldest first:
///                                        F[i·S_max·W ..< …] (S_i, W), Y[i·S_max·L ..< …] (S_i, L), counts[i] = S_i
/// ```
///
/// Failures: the in-process store never fails; a shared one throws ``SupportStoreUnavailable``
/// (down, timed out, an error reply) and then nothing may be acknowledged as appended. Callers
/// that merge requests pull every task of a batch in one ``pullRows(_:features:labels:counts:)``
/// when ``isShared`` (one network round trip per batch).
public protocol SupportRowStore: AnyObject, Sendable {
    /// `W`: floats of one row's features.
    var rowWidth: Int { get }
    /// `L`: labels of one row.
    var labelWidth: Int { get }
    /// `S_max`: rows kept per task.
    var capacity: Int { get }
    /// The version written with new rows; rows of other versions are never served.
    var modelVersion: UInt64 { get }
    /// Switches the version rows are written and served under.
    func setModelVersion(_ version: UInt64)
    /// Whether the rows live outside this process, so that a pull is a network round trip.
    var isShared: Bool { get }
    /// Where the rows are, for logs and errors (`in-process`, `redis://127.0.0.1:6379/0`).
    var location: String { get }
    /// Appends `rows` (row `i` to `rows.tasks[i]`, in order).
    ///
    /// - Throws: ``SupportStoreUnavailable`` when the rows could not all be stored (some tasks may
    ///   have been written; the caller must not acknowledge them).
    func appendRows(_ rows: SupportRows) throws(SupportStoreUnavailable)
    /// Copies the servable rows of `tasks.count` tasks: task `i`'s oldest first into
    /// `features[i·S_max·W ...]` `(S_i, W)` and `labels[i·S_max·L ...]` `(S_i, L)`, `S_i` into
    /// `counts[i]` (0 for an unknown task).
    ///
    /// - Parameters: features, labels, counts: room for `n·S_max·W`, `n·S_max·L` and `n` values.
    /// - Throws: ``SupportStoreUnavailable``; then the buffers' contents are unspecified.
    func pullRows(_ tasks: UnsafeBufferPointer<UInt64>, features: UnsafeMutableBufferPointer<Float>,
                  labels: UnsafeMutableBufferPointer<Float>, counts: UnsafeMutableBufferPointer<Int>) throws(SupportStoreUnavailable)
    /// Reclaims expired rows (in-process); nothing for a store whose keys expire by themselves.
    @discardableResult
    func sweep() -> SweepReport
}

/// A support store that could not serve or take rows: the reason serving falls back to the base
/// towers and `/v1/events` answers 503.
public struct SupportStoreUnavailable: Error, Sendable, Equatable, CustomStringConvertible {
    /// Why, as a metrics label.
    public enum Cause: String, Sendable, Equatable, CaseIterable {
        /// Not reachable (connection refused or lost, reconnect backoff).
        case down
        /// No reply within the store's timeout.
        case timeout
        /// The store answered with an error or an unexpected reply.
        case error
    }

    public var cause: Cause
    public var message: String

    public init(cause: Cause, message: String) {
        self.cause = cause
        self.message = message
    }

    public var description: String { "support store \(cause.rawValue): \(message)" }
}

extension SupportStore: SupportRowStore {
    public var rowWidth: Int { config.rowWidth }
    public var labelWidth: Int { config.labelWidth }
    public var capacity: Int { config.capacity }
    public var isShared: Bool { false }
    public var location: String { "in-process" }

    /// ``append(tasks:features:labels:timestamps:)``; never throws.
    public func appendRows(_ rows: SupportRows) {
        append(tasks: rows.tasks, features: rows.features, labels: rows.labels, timestamps: rows.timestamps)
    }

    /// One ``pull(task:features:labels:timestamps:)`` per task; never throws, allocates nothing.
    public func pullRows(_ tasks: UnsafeBufferPointer<UInt64>, features: UnsafeMutableBufferPointer<Float>,
                         labels: UnsafeMutableBufferPointer<Float>, counts: UnsafeMutableBufferPointer<Int>) {
        let s = config.capacity, w = config.rowWidth, l = config.labelWidth
        precondition(features.count >= tasks.count * s * w && labels.count >= tasks.count * s * l && counts.count >= tasks.count,
                     "SupportStore.pullRows: buffers too small for \(tasks.count) tasks of S_max = \(s) rows")
        for i in tasks.indices {
            counts[i] = pull(task: tasks[i], features: UnsafeMutableBufferPointer(rebasing: features[(i * s * w)..<((i + 1) * s * w)]),
                             labels: UnsafeMutableBufferPointer(rebasing: labels[(i * s * l)..<((i + 1) * s * l)]))
        }
    }
}
