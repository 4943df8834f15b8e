import Configuration
import Foundation

/// The settings that guard the server: connection limits, bearer tokens, and the refusal to
/// serve a non-loopback address openly.
extension ServerSettings {
    /// Read timeouts, the connection cap and the shutdown grace (``ConnectionLimits``): each
    /// duration in seconds in 0.001...86400, the cap in 1...1000000.
    static func limits(_ reader: ConfigReader) throws(Invalid) -> ConnectionLimits {
        func seconds(_ key: ConfigKey, _ variable: String, _ fallback: Double) throws(Invalid) -> Duration {
            let value = try number(reader, key, variable, default: fallback, in: 1e-3...86_400, Double.init)
            return .milliseconds(Int64((value * 1000).rounded()))
        }
        return ConnectionLimits(
            headerTimeout: try seconds("metarec.header.timeout.seconds", "METAREC_HEADER_TIMEOUT_SECONDS", 10),
            bodyTimeout: try seconds("metarec.body.timeout.seconds", "METAREC_BODY_TIMEOUT_SECONDS", 30),
            idleTimeout: try seconds("metarec.idle.timeout.seconds", "METAREC_IDLE_TIMEOUT_SECONDS", 60),
            maxConnections: try number(reader, "metarec.max.connections", "METAREC_MAX_CONNECTIONS", default: 1024,
                                       in: 1...1_000_000, Int.init),
            shutdownGrace: try seconds("metarec.shutdown.grace.seconds", "METAREC_SHUTDOWN_GRACE_SECONDS", 10))
    }

    /// The bearer tokens of the token file (`--token-file`: one per line, blank lines skipped,
    /// surrounding spaces trimmed) and of `METAREC_TOKENS` (comma-separated), together; read as
    /// secrets (never in swift-configuration's access reports).
    static func tokens(_ reader: ConfigReader) throws(Invalid) -> BearerTokens {
        var tokens: [String] = []
        if let path = text(reader, "metarec.token.file") {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw Invalid(variable: "METAREC_TOKEN_FILE", reason: "cannot read the token file \(path)")
            }
            let lines = String(decoding: data, as: UTF8.self).split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
            for (n, line) in lines.enumerated() {
                let token = line.trimmingCharacters(in: .whitespaces)
                guard !token.isEmpty else { continue }
                do throws(BearerTokens.Invalid) { _ = try BearerTokens([token]) } catch {
                    throw Invalid(variable: "METAREC_TOKEN_FILE", reason: "\(path) line \(n + 1): \(error.reason)")
                }
                tokens.append(token)
            }
            guard !tokens.isEmpty else { throw Invalid(variable: "METAREC_TOKEN_FILE", reason: "no token in \(path)") }
        }
        if let list = reader.string(forKey: "metarec.tokens", isSecret: true) {
            let given = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            do throws(BearerTokens.Invalid) { _ = try BearerTokens(given) } catch {
                throw Invalid(variable: "METAREC_TOKENS", reason: "\(error)")
            }
            tokens += given
        }
        do throws(BearerTokens.Invalid) { return try BearerTokens(tokens) } catch { throw Invalid(variable: "METAREC_TOKENS", reason: "\(error)") }
    }

    /// Refuses to serve a non-loopback `host` without tokens, unless `--insecure-no-auth`
    /// (`METAREC_INSECURE_NO_AUTH=true`) says so explicitly: anyone who reaches the port could
    /// otherwise write events and grow the support store.
    static func exposure(host: String, tokens: BearerTokens, reader: ConfigReader) throws(Invalid) {
        let insecure: Bool
        switch text(reader, "metarec.insecure.no.auth")?.lowercased() {
        case nil, "false", "0", "no": insecure = false
        case "true", "1", "yes": insecure = true
        case let other?: throw Invalid(variable: "METAREC_INSECURE_NO_AUTH", reason: "\"\(other)\" is not true or false")
        }
        guard !tokens.isEnabled, !insecure, !isLoopback(host) else { return }
        throw Invalid(variable: "METAREC_HOST", reason: """
            \(host) is not a loopback address, and no bearer token is configured: give tokens with --token-file \
            (METAREC_TOKEN_FILE) or METAREC_TOKENS, or pass --insecure-no-auth (METAREC_INSECURE_NO_AUTH=true) \
            to serve without authentication
            """)
    }

    /// `localhost`, `*.localhost`, `::1` or an address in 127.0.0.0/8.
    static func isLoopback(_ host: String) -> Bool {
        let name = host.lowercased()
        if name == "localhost" || name.hasSuffix(".localhost") || name == "::1" || name == "[::1]" { return true }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}
