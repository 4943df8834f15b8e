import Foundation
import Testing
import ModelDescription
import ModelMath

/// Config bounds (`ModelConfig.Bounds`) and size limits (`limits`): absurd values are refused at
/// validation, quickly, without allocating in proportion to them, naming the key.
@Suite struct ConfigBoundsTests {
    static let base = """
        task_key: u
        features:
          - {name: u, kind: categorical}
          - {name: tags, kind: multi_categorical}
          - {name: x, kind: numeric}
        labels: [{name: y, kind: binary}, {name: r, kind: regression}]
        """

    static func parse(_ extra: String) throws(ConfigError) -> ModelConfig {
        try ModelConfig.parse(yaml: base + "\n" + extra, source: "bounds.yaml")
    }

    @Test(arguments: [
        "model: {experts: 3, expert_layers: [7, 5], tower_layers: [4]}",
        "model: {architecture: shared_bottom, shared_bottom_layers: [9], tower_layers: []}",
        "model: {experts: 2, expert_layers: [6], tower_layers: [3, 2]}\nmeta: {learn_inner_rates: true}",
        "model: {embedding_dim: 3, experts: 1, expert_layers: [2]}",
    ])
    func `the parameter estimate equals the built network's count`(model: String) throws {
        let config = try Self.parse(model)
        let built = ModelParameters(spec: config.networkSpec, seed: 1).parameterCount
        #expect(config.estimatedParameterCount == Double(built))
    }

    /// The resident-set high-water mark of this process, in bytes (`VmHWM` in /proc/self/status).
    static func peakResidentBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else { return nil }
        return kb * 1024
    }

    static let absurdConfigs: [(yaml: String, keyPath: String)] = [
        ("model: {expert_layers: [1000000000, 1000000000]}", "model.expert_layers"),
        ("model: {experts: 1000000000000, expert_layers: [8]}", "model"),
        ("model: {experts: 9223372036854775807, expert_layers: [9223372036854775807, 9223372036854775807]}", "model.expert_layers"),
        ("model: {experts: 9223372036854775807, expert_layers: [9223372036854775807, 8]}", "model"),
        ("model: {tower_layers: [4000000000, 4000000000]}", "model"),
        ("model: {embedding_dim: 9223372036854775807}", "model.embedding_dim"),
        ("model: {embedding_dim: 65536, expert_layers: [4096]}", "model"),
        ("meta: {inner_steps: 1000000000}", "meta.inner_steps"),
        ("serving: {inner_steps: 1000000000}", "serving.inner_steps"),
        ("training: {epochs: 1000000000000}", "training.epochs"),
        ("training: {batch_size: 9223372036854775807}", "training.batch_size"),
        ("training: {batch_size: 1000000}\nmodel: {expert_layers: [512, 32]}", "limits.max_memory_bytes"),
        ("training: {threads: 1000000}", "training.threads"),
        ("training: {shuffle_buffer: 4000000000}", "limits.max_memory_bytes"),
        ("training: {shuffle_buffer: 9223372036854775807}", "training.shuffle_buffer"),
        ("support_store: {max_tasks: 9000000000000000000}", "support_store.max_tasks"),
        ("support_store: {capacity: 9223372036854775807, keep_floor: 4}", "support_store.capacity"),
        ("support_store: {capacity: 65536}\nmodel: {expert_layers: [64, 1024]}", "support_store.capacity"),
        ("model: {expert_layers: [8, 2000000]}", "model.expert_layers"),
        ("support_store: {ttl_seconds: 9000000000000000000}", "support_store.ttl_seconds"),
        ("embeddings: {ttl_seconds: 9000000000000000000}", "embeddings.ttl_seconds"),
        ("embeddings: {admission_count: 1000000}", "embeddings.admission_count"),
        ("serving: {max_candidates: 9223372036854775807}", "serving.max_candidates"),
        ("serving: {max_candidates: 1000000, batch_max_requests: 4096}", "limits.max_memory_bytes"),
        ("serving: {batch_max_requests: 1000000000}", "serving.batch_max_requests"),
        ("serving: {max_body_bytes: 9223372036854775807}", "serving.max_body_bytes"),
        ("serving: {batch_max_wait_microseconds: 9223372036854775807}", "serving.batch_max_wait_microseconds"),
        ("limits: {max_parameters: 0}", "limits.max_parameters"),
        ("limits: {max_memory_bytes: 1000}", "limits.max_memory_bytes"),
    ]

    @Test(arguments: absurdConfigs)
    func `an absurd config is refused at validation within a second and 100 MB, naming the key`(yaml: String, keyPath: String) {
        let peakBefore = Self.peakResidentBytes()
        let start = ContinuousClock.now
        var caught: ConfigError?
        do { _ = try Self.parse(yaml) } catch { caught = error }
        let elapsed = ContinuousClock.now - start
        #expect(caught?.keyPath == keyPath, "\(yaml): \(caught.map { "\($0)" } ?? "accepted")")
        #expect(caught?.description.contains("bounds.yaml") == true)
        #expect(elapsed < .seconds(1), "validation took \(elapsed)")
        if let before = peakBefore, let after = Self.peakResidentBytes() {
            #expect(after - before < 100 << 20, "peak RSS grew by \(after - before) bytes")
            print("validation refused \(keyPath) in \(elapsed); peak RSS \(after >> 20) MiB, grew \(after - before) bytes")
        }
    }

    @Test func `the size limits are overridable by their keys`() throws {
        // ≈ 1.0e8 dense parameters: four experts of [5000, 5000] on a 33-wide input.
        let big = "model: {expert_layers: [5000, 5000]}"
        let refused = try #require(Self.refusal(big))
        #expect(refused.keyPath == "model")
        #expect(refused.reason.contains("limits.max_parameters = 100000000"))
        let allowed = try Self.parse(big + "\nlimits: {max_parameters: 200000000}")
        #expect(allowed.estimatedParameterCount > 1e8 && allowed.limits.maxParameters == 200_000_000)
        // And the memory limit: a million-row batch through 512-wide experts (≈ 28 GB of
        // activations) is refused at 8 GiB, accepted at 64 GiB.
        let batch = "training: {batch_size: 1000000}\nmodel: {expert_layers: [512, 32]}"
        #expect(Self.refusal(batch)?.keyPath == "limits.max_memory_bytes")
        _ = try Self.parse(batch + "\nlimits: {max_memory_bytes: 68719476736}")
    }

    @Test func `the documented defaults are within every bound and limit`() throws {
        let c = try Self.parse("")
        #expect(c.estimatedParameterCount < Double(c.limits.maxParameters))
        #expect(c.estimatedMemoryBytes < Double(c.limits.maxMemoryBytes))
        #expect(c.limits == ModelConfig.Limits(maxParameters: 100_000_000, maxMemoryBytes: 8 << 30))
        print("defaults: P = \(c.estimatedParameterCount), estimated \(c.estimatedMemoryBytes) bytes")
    }

    static func refusal(_ yaml: String) -> ConfigError? {
        do { _ = try parse(yaml); return nil } catch { return error }
    }
}
