import Configuration
import MetaRecServer
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
            "METAREC_SWEEP_SECONDS": "2.5", "METAREC_STATE": "/var/lib/metarec",
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

    @Test func `the model directory is required`() {
        let error = #expect(throws: ServerSettings.Invalid.self) { try Self.settings(environment: [:]) }
        #expect(error?.variable == "METAREC_MODEL")
    }
}
