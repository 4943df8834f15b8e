#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// Test-only fault injection: named instants of training and of the model and checkpoint
/// writes, at which the kill test (`Tests/MetaTrainTests/KillDuringTrainingTests.swift`) makes
/// the process SIGKILL itself, deterministically, without timing races.
///
/// Set by the environment variable `METAREC_TEST_KILL_AT` (**for tests only**; unset, a point
/// costs one load of a cached value):
///
/// | value | effect |
/// |---|---|
/// | unset or empty | nothing |
/// | `list` | each point reached prints `crash point <n>: <name>` on standard error (`n` from 1) |
/// | `<n>` | the `n`-th point reached sends `SIGKILL` to the process itself (after printing it) |
///
/// Points are counted over the whole process in the order reached, so with one training thread
/// (points are only reached on the calling thread) the `n`-th point of two runs of the same
/// command is the same instant.
public enum CrashPoint {
    enum Mode: Equatable {
        case off, list
        case kill(at: Int)
    }

    static let mode: Mode = {
        let value = ProcessInfo.processInfo.environment["METAREC_TEST_KILL_AT"] ?? ""
        if value == "list" { return .list }
        if let n = Int(value), n > 0 { return .kill(at: n) }
        return .off
    }()

    private static let count = Atomic<Int>(0)

    /// Marks the instant `name` (say `model.parameters-written`); see the type's documentation.
    public static func reached(_ name: @autoclosure () -> String) {
        guard mode != .off else { return }
        let n = count.wrappingAdd(1, ordering: .relaxed).newValue
        switch mode {
        case .off: return
        case .list: report("crash point \(n): \(name())\n")
        case .kill(let at):
            guard n == at else { return }
            report("crash point \(n): \(name()): SIGKILL (METAREC_TEST_KILL_AT)\n")
            kill(getpid(), SIGKILL)
        }
    }

    private static func report(_ line: String) {
        var line = line
        line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }
}
