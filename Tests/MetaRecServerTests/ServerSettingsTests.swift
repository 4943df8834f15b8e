import Configuration
import Foundation
import MetaRecServer
import Serving
import Testing

/// `metarec serve`'s settings: flags (an in-memory provider) ahead of the environment.
@Suite struct ServerSettingsTests {
    static func settings(flags: [AbsoluteConfigKey: ConfigValue] = [:], environment: [String: String]) throws(ServerSettings.Invalid) -> ServerSettings {
        try ServerSettings(reader: ConfigReader(providers: [
            InMemoryProvider(name: "flags", values: flags), EnvironmentVariablesProvider(environmentVariables: environment),
        ]))
    }

    @Test func `every setting comes from its environment variable`() throws {
        let s = try Self.settings(environment: [
            "METAREC_MODEL": "/models/a", "METAREC_HOST": "0.0.0.0", "METAREC_PORT": "9090", "METAREC_WORKERS": "3",
            "METAREC_SWEEP_SECONDS": "2.5", "METAREC_STATE": "/var/lib/metarec", "METAREC_INSECURE_NO_AUTH": "true",
        ])
        #expect(s.model == "/models/a")
        #expect(s.configuration == ServerConfiguration(host: "0.0.0.0", port: 9090, workers: 3, sweepInterval: .milliseconds(2500),
                                                        stateDirectory: "/var/lib/metarec"))
    }

    @Test func `flags win over the environment, and unset settings take the defaults`() throws {
        let s = try Self.settings(flags: ["metarec.port": "0", "metarec.model": "/models/flag"],
                                  environment: ["METAREC_MODEL": "/models/env", "METAREC_PORT": "not a port"])
        #expect(s.model == "/models/flag")
        #expect(s.configuration == ServerConfiguration(port: 0))
        #expect(s.configuration.stateDirectory == nil)
    }

    @Test func `--models takes a repository, its name, split and poll period; exactly one of --model and --models`() throws {
        let s = try Self.settings(flags: ["metarec.models": "/repo", "metarec.split": "stable=90,canary=10"],
                                  environment: ["METAREC_MODEL_NAME": "ranker", "METAREC_MODELS_POLL_SECONDS": "0.5"])
        #expect(s.model == nil)
        #expect(s.repository == RepositorySettings(root: "/repo", name: "ranker",
                                                   weights: [.init(.label("stable"), weight: 90), .init(.label("canary"), weight: 10)],
                                                   pollInterval: .milliseconds(500)))
        #expect(try Self.settings(environment: ["METAREC_MODELS": "/repo"]).repository == RepositorySettings(root: "/repo"),
                "defaults: the only model, the default split, a 5 s poll")
        #expect(try Self.settings(environment: ["METAREC_MODELS": "/repo", "METAREC_MODELS_POLL_SECONDS": "0"]).repository?.pollInterval == nil)
        #expect(try Self.settings(environment: ["METAREC_MODELS": "/repo", "METAREC_MODELS_POLL_SECONDS": "0.1"]).repository?.pollInterval
            == .milliseconds(100), "the shortest period")
        for (environment, variable, says) in [
            (["METAREC_MODELS": "/repo", "METAREC_MODEL": "/m"], "METAREC_MODELS", "give exactly one"),
            ([:], "METAREC_MODEL", "--models"),
            (["METAREC_MODEL": "/m", "METAREC_SPLIT": "stable=1"], "METAREC_SPLIT", "needs --models"),
            (["METAREC_MODEL": "/m", "METAREC_MODEL_NAME": "x"], "METAREC_MODEL_NAME", "needs --models"),
            (["METAREC_MODELS": "/repo", "METAREC_SPLIT": "stable"], "METAREC_SPLIT", "--split stable"),
            (["METAREC_MODELS": "/repo", "METAREC_MODELS_POLL_SECONDS": "-1"], "METAREC_MODELS_POLL_SECONDS", "-1"),
            // Rounds to 0 ms: it would re-read the directory in a busy loop.
            (["METAREC_MODELS": "/repo", "METAREC_MODELS_POLL_SECONDS": "0.0004"], "METAREC_MODELS_POLL_SECONDS", "0 (re-read only on SIGHUP) or at least 0.1 s"),
            (["METAREC_MODELS": "/repo", "METAREC_MODELS_POLL_SECONDS": "0.09"], "METAREC_MODELS_POLL_SECONDS", "at least 0.1 s"),
            (["METAREC_MODELS": "/repo", "METAREC_STATE": "/s"], "METAREC_STATE", "--models /repo"),
            (["METAREC_MODELS": "/repo", "METAREC_RETRIEVAL": "/r"], "METAREC_RETRIEVAL", "--models /repo"),
        ] {
            let error = #expect(throws: ServerSettings.Invalid.self, "\(environment)") { try Self.settings(environment: environment) }
            #expect(error?.variable == variable && error?.reason.contains(says) == true, "\(environment): \(String(describing: error))")
        }
    }

    @Test(arguments: [
        (["METAREC_PORT": "65536"], "METAREC_PORT"), (["METAREC_PORT": "80x"], "METAREC_PORT"),
        (["METAREC_WORKERS": "0"], "METAREC_WORKERS"), (["METAREC_SWEEP_SECONDS": "-1"], "METAREC_SWEEP_SECONDS"),
        (["METAREC_SWEEP_SECONDS": "nan"], "METAREC_SWEEP_SECONDS"),
        (["METAREC_EVENT_FSYNC": "sometimes"], "METAREC_EVENT_FSYNC"), (["METAREC_SNAPSHOT_SECONDS": "0"], "METAREC_SNAPSHOT_SECONDS"),
    ])
    func `invalid values are refused naming their variable`(environment: [String: String], variable: String) {
        let error = #expect(throws: ServerSettings.Invalid.self) {
            try Self.settings(environment: environment.merging(["METAREC_MODEL": "/m"]) { a, _ in a })
        }
        #expect(error?.variable == variable)
    }

    @Test func `the event log's fsync policy and snapshot period come from flags or the environment, every_second and 300 s by default`() throws {
        let defaults = try Self.settings(environment: ["METAREC_MODEL": "/m"])
        #expect(defaults.configuration.eventFsync == .everySecond && defaults.configuration.snapshotInterval == .seconds(300))
        let env = try Self.settings(environment: ["METAREC_MODEL": "/m", "METAREC_EVENT_FSYNC": "always", "METAREC_SNAPSHOT_SECONDS": "2.5"])
        #expect(env.configuration.eventFsync == .always && env.configuration.snapshotInterval == .milliseconds(2500))
        let flags = try Self.settings(flags: ["metarec.event.fsync": "off"], environment: ["METAREC_MODEL": "/m", "METAREC_EVENT_FSYNC": "always"])
        #expect(flags.configuration.eventFsync == .off)
    }

    @Test func `timeouts, the connection cap and the grace come from their variables, with documented defaults`() throws {
        #expect(try Self.settings(environment: ["METAREC_MODEL": "/m"]).configuration.limits == ConnectionLimits(
            headerTimeout: .seconds(10), bodyTimeout: .seconds(30), idleTimeout: .seconds(60), maxConnections: 1024, shutdownGrace: .seconds(10)))
        let s = try Self.settings(flags: ["metarec.max.connections": "8"], environment: [
            "METAREC_MODEL": "/m", "METAREC_HEADER_TIMEOUT_SECONDS": "2.5", "METAREC_BODY_TIMEOUT_SECONDS": "4",
            "METAREC_IDLE_TIMEOUT_SECONDS": "5", "METAREC_MAX_CONNECTIONS": "99", "METAREC_SHUTDOWN_GRACE_SECONDS": "0.5",
        ])
        #expect(s.configuration.limits == ConnectionLimits(headerTimeout: .milliseconds(2500), bodyTimeout: .seconds(4),
                                                           idleTimeout: .seconds(5), maxConnections: 8, shutdownGrace: .milliseconds(500)))
    }

    @Test(arguments: [
        (["METAREC_HEADER_TIMEOUT_SECONDS": "0"], "METAREC_HEADER_TIMEOUT_SECONDS"),
        (["METAREC_BODY_TIMEOUT_SECONDS": "-3"], "METAREC_BODY_TIMEOUT_SECONDS"),
        (["METAREC_IDLE_TIMEOUT_SECONDS": "inf"], "METAREC_IDLE_TIMEOUT_SECONDS"),
        (["METAREC_MAX_CONNECTIONS": "0"], "METAREC_MAX_CONNECTIONS"),
        (["METAREC_SHUTDOWN_GRACE_SECONDS": "soon"], "METAREC_SHUTDOWN_GRACE_SECONDS"),
        (["METAREC_TOKENS": "good,has space"], "METAREC_TOKENS"),
        (["METAREC_TOKEN_FILE": "/nonexistent/tokens"], "METAREC_TOKEN_FILE"),
        (["METAREC_INSECURE_NO_AUTH": "maybe"], "METAREC_INSECURE_NO_AUTH"),
    ])
    func `invalid limits and tokens are refused naming their variable`(environment: [String: String], variable: String) {
        let error = #expect(throws: ServerSettings.Invalid.self) {
            try Self.settings(environment: environment.merging(["METAREC_MODEL": "/m"]) { a, _ in a })
        }
        #expect(error?.variable == variable)
    }

    @Test func `a non-loopback host without tokens is refused, saying how to allow it`() throws {
        for host in ["0.0.0.0", "::", "192.168.1.10", "example.com"] {
            let error = #expect(throws: ServerSettings.Invalid.self) {
                try Self.settings(environment: ["METAREC_MODEL": "/m", "METAREC_HOST": host])
            }
            #expect(error?.variable == "METAREC_HOST")
            #expect(error?.reason.contains("--insecure-no-auth") == true && error?.reason.contains("--token-file") == true)
        }
        for host in ["127.0.0.1", "127.3.2.1", "localhost", "::1"] {
            #expect(try Self.settings(environment: ["METAREC_MODEL": "/m", "METAREC_HOST": host]).configuration.tokens == .none)
        }
        // Tokens, or an explicit --insecure-no-auth, allow it.
        let tokens = try Self.settings(environment: ["METAREC_MODEL": "/m", "METAREC_HOST": "0.0.0.0", "METAREC_TOKENS": " a1, b2 ,"])
        #expect(tokens.configuration.tokens == (try BearerTokens(["a1", "b2"])))
        let open = try Self.settings(flags: ["metarec.insecure.no.auth": "true"], environment: ["METAREC_MODEL": "/m", "METAREC_HOST": "0.0.0.0"])
        #expect(open.configuration.tokens == .none)
    }

    @Test func `the token file holds one token per line, blank lines skipped, with the environment's added`() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("metarec-tokens-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("tokens").path
        try "  first-token  \r\n\nsecond-token\n".write(toFile: file, atomically: true, encoding: .utf8)
        let s = try Self.settings(flags: ["metarec.token.file": ConfigValue(.string(file), isSecret: false)],
                                  environment: ["METAREC_MODEL": "/m", "METAREC_TOKENS": "third-token"])
        #expect(s.configuration.tokens == (try BearerTokens(["first-token", "second-token", "third-token"])))
        try "\n \n".write(toFile: file, atomically: true, encoding: .utf8)
        let empty = #expect(throws: ServerSettings.Invalid.self) { try Self.settings(environment: ["METAREC_MODEL": "/m", "METAREC_TOKEN_FILE": file]) }
        #expect(empty?.reason.contains("no token") == true)
        try "good\nbad token\n".write(toFile: file, atomically: true, encoding: .utf8)
        let bad = #expect(throws: ServerSettings.Invalid.self) { try Self.settings(environment: ["METAREC_MODEL": "/m", "METAREC_TOKEN_FILE": file]) }
        #expect(bad?.reason.contains("line 2") == true && bad?.reason.contains("bad token") == false)
    }

    @Test func `the model directory is required`() {
        let error = #expect(throws: ServerSettings.Invalid.self) { try Self.settings(environment: [:]) }
        #expect(error?.variable == "METAREC_MODEL")
    }
}
