import Configuration
import Foundation
import MetaRecServer
import ParamServer
import Testing

/// `--support` / `METAREC_SUPPORT`: where users' support rows live (issue 23).
@Suite struct SupportBackendTests {
    @Test func `the in-process store is the default; redis URLs come from the flag or the environment, with the timeout`() throws {
        let defaults = try ServerSettingsTests.settings(environment: ["METAREC_MODEL": "/m"])
        #expect(defaults.configuration.support == .inProcess)
        let env = try ServerSettingsTests.settings(environment: ["METAREC_MODEL": "/m", "METAREC_SUPPORT": "redis://10.0.0.7:6380/3",
                                                                 "METAREC_SUPPORT_TIMEOUT_MS": "20"])
        #expect(env.configuration.support == .redis(RedisAddress(host: "10.0.0.7", port: 6380, database: 3), timeoutSeconds: 0.02))
        let flag = try ServerSettingsTests.settings(flags: ["metarec.support": "redis://cache"],
                                                    environment: ["METAREC_MODEL": "/m", "METAREC_SUPPORT": "redis://other"])
        #expect(flag.configuration.support == .redis(RedisAddress(host: "cache"), timeoutSeconds: 0.05))
        let memory = try ServerSettingsTests.settings(environment: ["METAREC_MODEL": "/m", "METAREC_SUPPORT": "memory"])
        #expect(memory.configuration.support == .inProcess)
    }

    @Test func `the support precision comes from the flag or the environment; none means the model's; a bad one names the variable`() throws {
        #expect(try ServerSettingsTests.settings(environment: ["METAREC_MODEL": "/m"]).supportPrecision == nil)
        let env = try ServerSettingsTests.settings(environment: ["METAREC_MODEL": "/m", "METAREC_SUPPORT_PRECISION": "bf16"])
        #expect(env.supportPrecision == .bfloat16)
        let flag = try ServerSettingsTests.settings(flags: ["metarec.support.precision": "f32"],
                                                    environment: ["METAREC_MODEL": "/m", "METAREC_SUPPORT_PRECISION": "bf16"])
        #expect(flag.supportPrecision == .float32)
        let bad = #expect(throws: ServerSettings.Invalid.self) {
            try ServerSettingsTests.settings(environment: ["METAREC_MODEL": "/m", "METAREC_SUPPORT_PRECISION": "fp16"])
        }
        #expect(bad?.variable == "METAREC_SUPPORT_PRECISION" && bad?.reason == "\"fp16\" is not one of f32, bf16")
    }

    @Test(arguments: [
        ("redis://host:99999", "port '99999'"), ("http://host:6379", "expected redis://"), ("redis://:6379", "missing host"),
        ("redis://host/x", "database 'x'"), ("redis://user:pw@host", "credentials"),
    ])
    func `a bad redis URL names the flag and what is wrong`(url: String, reason: String) {
        let error = #expect(throws: ServerSettings.Invalid.self) {
            try ServerSettingsTests.settings(environment: ["METAREC_MODEL": "/m", "METAREC_SUPPORT": url])
        }
        #expect(error?.variable == "METAREC_SUPPORT")
        #expect(error?.reason.contains("--support \(url)") == true && error?.reason.contains(reason) == true, "\(error?.reason ?? "")")
    }

    @Test func `a timeout out of range, a state directory with Redis and a seed without Redis are refused`() throws {
        let timeout = #expect(throws: ServerSettings.Invalid.self) {
            try ServerSettingsTests.settings(environment: ["METAREC_MODEL": "/m", "METAREC_SUPPORT": "redis://h", "METAREC_SUPPORT_TIMEOUT_MS": "0"])
        }
        #expect(timeout?.variable == "METAREC_SUPPORT_TIMEOUT_MS")
        let state = #expect(throws: ServerSettings.Invalid.self) {
            try ServerSettingsTests.settings(environment: ["METAREC_MODEL": "/m", "METAREC_SUPPORT": "redis://h", "METAREC_STATE": "/s"])
        }
        #expect(state?.reason.contains("--state") == true && state?.reason.contains("Redis") == true)
        let seed = #expect(throws: ServerSettings.Invalid.self) {
            try ServerSettingsTests.settings(environment: ["METAREC_MODEL": "/m", "METAREC_SUPPORT_SEED": "true"])
        }
        #expect(seed?.variable == "METAREC_SUPPORT_SEED" && seed?.reason.contains("--support redis://") == true)
        let seeded = try ServerSettingsTests.settings(flags: ["metarec.support.seed": "true"],
                                                      environment: ["METAREC_MODEL": "/m", "METAREC_SUPPORT": "redis://h"])
        #expect(seeded.configuration.seedSharedSupport)
    }
}
