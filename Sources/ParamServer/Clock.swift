#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A point in time: nanoseconds since the Unix epoch (1970-01-01T00:00:00Z).
///
/// Stored as `Int64`, which covers ±292 years. Arithmetic with `Duration` saturates instead of
/// trapping, because timestamps come from outside (event logs, HTTP requests).
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Nanoseconds since the Unix epoch.
    public var nanosecondsSinceEpoch: Int64

    /// Creates a timestamp `nanosecondsSinceEpoch` ns after the Unix epoch.
    public init(nanosecondsSinceEpoch: Int64) {
        self.nanosecondsSinceEpoch = nanosecondsSinceEpoch
    }

    /// The Unix epoch itself.
    public static let zero = Timestamp(nanosecondsSinceEpoch: 0)

    /// A timestamp `seconds` whole seconds after the epoch (saturating).
    public static func seconds(_ seconds: Int64) -> Timestamp {
        Timestamp(nanosecondsSinceEpoch: seconds.multipliedReportingOverflow(by: 1_000_000_000).overflow
            ? (seconds < 0 ? .min : .max) : seconds * 1_000_000_000)
    }

    public static func < (a: Timestamp, b: Timestamp) -> Bool {
        a.nanosecondsSinceEpoch < b.nanosecondsSinceEpoch
    }

    /// `t + d`, saturating at the representable range.
    public static func + (t: Timestamp, d: Duration) -> Timestamp {
        Timestamp(nanosecondsSinceEpoch: saturatingAdd(t.nanosecondsSinceEpoch, d.saturatingNanoseconds))
    }

    /// `t - d`, saturating at the representable range.
    public static func - (t: Timestamp, d: Duration) -> Timestamp {
        let n = d.saturatingNanoseconds
        return Timestamp(nanosecondsSinceEpoch: saturatingAdd(t.nanosecondsSinceEpoch, n == .min ? .max : -n))
    }

    /// The signed duration `a − b`.
    public static func - (a: Timestamp, b: Timestamp) -> Duration {
        let (d, overflow) = a.nanosecondsSinceEpoch.subtractingReportingOverflow(b.nanosecondsSinceEpoch)
        if overflow { return .nanoseconds(a > b ? Int64.max : Int64.min) }
        return .nanoseconds(d)
    }

    public var description: String {
        let s = nanosecondsSinceEpoch / 1_000_000_000
        let ns = abs(nanosecondsSinceEpoch % 1_000_000_000)
        return "\(s).\(String(ns + 1_000_000_000).dropFirst())s"
    }
}

@inline(__always)
func saturatingAdd(_ a: Int64, _ b: Int64) -> Int64 {
    let (r, overflow) = a.addingReportingOverflow(b)
    return overflow ? (b > 0 ? .max : .min) : r
}

extension Duration {
    /// Whole nanoseconds, saturating at `Int64` (sub-nanosecond parts are truncated).
    var saturatingNanoseconds: Int64 {
        let (s, atto) = components
        let (ns, overflow) = s.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return s < 0 ? .min : .max }
        return saturatingAdd(ns, atto / 1_000_000_000)
    }
}

/// The source of "now" for expiry and least-recently-used bookkeeping.
///
/// Injected so that tests are deterministic (``ManualClock``); production uses ``SystemClock``.
/// The parameter server only assumes the clock is *mostly* monotonic: a clock that steps back
/// delays reclamation but never causes an expired entry to be served.
public protocol ParamServerClock: Sendable {
    /// The current time.
    func now() -> Timestamp
}

/// Wall-clock time (`CLOCK_REALTIME`), so expiry survives a snapshot/restore across restarts.
public struct SystemClock: ParamServerClock {
    public init() {}

    /// - Complexity: O(1), one `clock_gettime` call (through the vDSO: no system call).
    public func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(nanosecondsSinceEpoch: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }
}

/// A clock that only moves when told to; thread-safe, for tests of every module.
///
/// ```swift
/// let clock = ManualClock(start: .seconds(1_700_000_000))
/// clock.advance(by: .seconds(61))
/// ```
public final class ManualClock: ParamServerClock {
    private let current: Mutex<Timestamp>

    /// Creates a clock reading `start` (default: the epoch).
    public init(start: Timestamp = .zero) {
        current = Mutex(start)
    }

    /// - Complexity: O(1).
    public func now() -> Timestamp {
        current.withLock { $0 }
    }

    /// Moves the clock forward (or back, for a negative duration) by `duration`.
    public func advance(by duration: Duration) {
        current.withLock { $0 = $0 + duration }
    }

    /// Sets the clock to `time`.
    public func set(to time: Timestamp) {
        current.withLock { $0 = time }
    }
}
