import Foundation
import ParamServer

/// Where `metarec serve` keeps users' support rows (`--support`, `docs/DESIGN.md` §Serving fleet).
public enum SupportBackend: Sendable, Equatable {
    /// The model's in-process ``ParamServer/SupportStore`` (the default): rows live and die with
    /// the process, made durable by the state directory's snapshot and event log.
    case inProcess
    /// A Redis server shared by every replica (``ParamServer/RedisSupportStore``); each command
    /// is given `timeoutSeconds` (> 0) to answer, after which the request falls back.
    case redis(RedisAddress, timeoutSeconds: Double)

    /// Parses `--support`: `memory` (or empty) for the in-process store, `redis://HOST[:PORT][/DB]`.
    ///
    /// - Throws: a message naming the flag and what is wrong with the value.
    public static func parse(_ text: String, timeoutSeconds: Double) throws(ServerSettings.Invalid) -> SupportBackend {
        let value = text.trimmingCharacters(in: .whitespaces)
        if value.isEmpty || value == "memory" { return .inProcess }
        do {
            return .redis(try RedisAddress(url: value), timeoutSeconds: timeoutSeconds)
        } catch {
            throw ServerSettings.Invalid(variable: "METAREC_SUPPORT",
                                         reason: "--support \(value): \(error) (expected memory or redis://HOST[:PORT][/DB])")
        }
    }

    /// The store this backend names for `model`'s rows: `nil` for ``inProcess`` (the model's own).
    func makeStore(config: SupportStoreConfig, clock: any ParamServerClock) -> (any SupportRowStore)? {
        guard case .redis(let address, let timeout) = self else { return nil }
        precondition(timeout > 0, "SupportBackend: the Redis timeout \(timeout) s must be > 0 (ServerSettings checks it)")
        do {
            return try RedisSupportStore(address: address, config: config, timeoutSeconds: timeout, clock: clock)
        } catch {
            preconditionFailure("SupportBackend: \(error) (a loaded model's support config is valid)")
        }
    }
}
