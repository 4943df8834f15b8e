/// When the event log's writes reach the disk (Redis's `appendfsync`), and so what a 200 from
/// `POST /v1/events` promises (`docs/DESIGN.md` §HTTP, durable events).
///
/// Every policy writes the record (write(2)) before the reply, so an acknowledged event survives
/// the process being killed; the policies differ on a crash of the machine (power, kernel):
public enum EventFsync: String, Sendable, Equatable, CaseIterable {
    /// fsync before the 200; concurrent requests share one fsync (group commit).
    case always
    /// A background thread fsyncs at least once a second: up to about a second of
    /// acknowledged events can be lost to a machine crash.
    case everySecond = "every_second"
    /// Never fsync (the kernel writes back when it likes; snapshots still fsync).
    case off
}
