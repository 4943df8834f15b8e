import Testing
import ModelDescription
import ParamServer

#if canImport(Glibc)
import Glibc
#endif

/// `training.embedding_optimizer` reaches the embedding rows as written: each accepted kind, one
/// push through the store the config builds, checked against the `Config/README.md` formula.
@Suite struct EmbeddingOptimizerConfigTests {
    static func config(_ optimizerYAML: String) throws -> ModelConfig {
        try ModelConfig.parse(yaml: """
            task_key: u
            features: [{name: u, kind: categorical}]
            labels: [{name: y, kind: binary}]
            model: {embedding_dim: 4}
            training: {embedding_optimizer: \(optimizerYAML)}
            """, source: "embedding.yaml")
    }

    @Test(arguments: [
        "{kind: sgd, learning_rate: 0.2}",
        "{kind: adagrad, learning_rate: 0.1, initial_accumulator: 0.3, epsilon: 1.0e-6}",
        "{kind: adam, learning_rate: 0.01, beta1: 0.8, beta2: 0.9, epsilon: 1.0e-6}",
    ])
    func `every accepted embedding optimiser kind updates a row by its formula`(optimizerYAML: String) throws {
        let config = try Self.config(optimizerYAML)
        let store = try EmbeddingStore(config: EmbeddingStoreConfig(model: config))
        let d = 4
        var row = [Float](repeating: 0, count: d)
        [UInt64(77)].withUnsafeBufferPointer { k in row.withUnsafeMutableBufferPointer { store.pull(keys: k, into: $0, create: true) } }
        var w = row.map(Double.init)
        var m = [Double](repeating: 0, count: d), v = m
        for t in 1...2 {
            let g: [Float] = [0.5, -1, 2, Float(t)]
            [UInt64(77)].withUnsafeBufferPointer { k in g.withUnsafeBufferPointer { store.push(keys: k, gradients: $0) } }
            for j in 0..<d {
                let gj = Double(g[j])
                switch config.training.embeddingOptimizer {
                case .sgd(let s):
                    w[j] -= s.learningRate * gj
                case .adagrad(let s):
                    if t == 1 { v[j] = s.initialAccumulator }
                    v[j] += gj * gj
                    w[j] -= s.learningRate * gj / (v[j].squareRoot() + s.epsilon)
                case .adam(let s):
                    m[j] = s.beta1 * m[j] + (1 - s.beta1) * gj
                    v[j] = s.beta2 * v[j] + (1 - s.beta2) * gj * gj
                    let mHat = m[j] / (1 - pow(s.beta1, Double(t))), vHat = v[j] / (1 - pow(s.beta2, Double(t)))
                    w[j] -= s.learningRate * mHat / (vHat.squareRoot() + s.epsilon)
                }
            }
        }
        [UInt64(77)].withUnsafeBufferPointer { k in row.withUnsafeMutableBufferPointer { store.pull(keys: k, into: $0, create: false) } }
        for j in 0..<d {
            #expect(abs(Double(row[j]) - w[j]) <= 1e-5 + 1e-4 * abs(w[j]), "column \(j): \(row[j]) vs \(w[j])")
        }
    }

    @Test(arguments: [
        ("{kind: sgd, momentum: 0.9}", "training.embedding_optimizer.momentum"),
        ("{kind: sgd, weight_decay: 0.01}", "training.embedding_optimizer.weight_decay"),
        ("{kind: adam, weight_decay: 0.01}", "training.embedding_optimizer.weight_decay"),
    ])
    func `embedding optimiser settings the rows do not implement are refused, naming the key`(yaml: String, keyPath: String) {
        do {
            _ = try Self.config(yaml)
            Issue.record("\(yaml) was accepted")
        } catch let error as ConfigError {
            #expect(error.keyPath == keyPath)
            #expect(error.description.contains("not implemented for embedding rows"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
