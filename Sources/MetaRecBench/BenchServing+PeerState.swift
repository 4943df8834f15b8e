import Foundation
import ModelDescription
import ModelMath
import Serving
import TensorCore

/// What a Python peer needs to serve the synthetic model's *whole* request from raw candidate
/// features (`Benchmarks/peers/`: the whole-request peers and the HTTP service), as safetensors:
///
/// ```
/// embedding.<feature>   (V_f + 1, d)   rows of vocab.<feature>, then a zero row for values
///                                      without a live row (unknown values read as zeros, as in
///                                      the embedding store's pull without create)
/// support.<user>.f      (S, K·H)       the user's support rows as the predictor pulls them
/// support.<user>.y      (S, K)
/// metadata: vocab.<feature> (JSON list of values), categorical, numeric (feature names in
///           input-layout order), task_key, users (JSON list), kinds, steps, learning_rate, activation
/// ```
/// The vocabulary is the synthetic traffic's: `item_id` 0 ..< items, `category` 0 ..< 50, the
/// given users for the task key (their rows read as zeros unless warmed).
enum PeerState {
    static func tensors(model: ServingModel, predictor: Predictor, users: [String],
                        items: Int) throws -> (tensors: [(name: String, tensor: Tensor)], metadata: [String: String]) {
        let config = model.config
        // The peer hashes each categorical feature's keys itself, one block per feature: no scene-private blocks.
        precondition(config.features.allSatisfy { $0.sceneEmbedding == .shared }, "PeerState: scene-private features are not supported")
        let categorical = config.features.filter { if case .categorical = $0.kind { true } else { false } }.map(\.name)
        let numeric = config.features.filter { if case .numeric = $0.kind { true } else { false } }.map(\.name)
        var out: [(name: String, tensor: Tensor)] = []
        var metadata: [String: String] = [
            "categorical": categorical.joined(separator: ","), "numeric": numeric.joined(separator: ","),
            "task_key": config.taskKey, "users": try json(users),
            "kinds": config.taskSpecs.map { $0.kind == .binary ? "binary" : "regression" }.joined(separator: ","),
            "steps": String(predictor.settings.adaptation.steps),
            "learning_rate": String(predictor.settings.adaptation.learningRate),
            "activation": config.networkSpec.activation.rawValue,
        ]
        for feature in categorical {
            let values: [String]
            switch feature {
            case config.taskKey: values = users
            case "item_id": values = (0..<items).map(String.init)
            case "category": values = (0..<50).map(String.init)
            default: values = []
            }
            out.append(("embedding.\(feature)", rows(of: values, feature: feature, model: model)))
            metadata["vocab.\(feature)"] = try json(values)
        }
        let h = config.networkSpec.metaWidth, kk = config.networkSpec.taskCount
        let capacity = model.support.config.capacity
        var features = [Float](repeating: 0, count: capacity * kk * h), labels = [Float](repeating: 0, count: capacity * kk)
        for user in users {
            let s = features.withUnsafeMutableBufferPointer { f in
                labels.withUnsafeMutableBufferPointer { l in model.support.pull(task: predictor.taskKey(user: user), features: f, labels: l) }
            }
            out.append(("support.\(user).f", Tensor(shape: [s, kk * h], scalars: Array(features[0..<(s * kk * h)]))))
            out.append(("support.\(user).y", Tensor(shape: [s, kk], scalars: Array(labels[0..<(s * kk)]))))
        }
        return (out, metadata)
    }

    /// `(V + 1, d)`: the store's rows of `values` (zeros where none is live), then a zero row.
    static func rows(of values: [String], feature: String, model: ServingModel) -> Tensor {
        let d = model.embeddings.dimension
        let keys = values.map { FeatureKey.hash(feature: feature, value: $0) }
        var rows = [Float](repeating: 0, count: (keys.count + 1) * d)
        keys.withUnsafeBufferPointer { k in
            rows.withUnsafeMutableBufferPointer { r in
                model.embeddings.pull(keys: k, into: UnsafeMutableBufferPointer(rebasing: r[0..<(keys.count * d)]), create: false)
            }
        }
        return Tensor(shape: [keys.count + 1, d], scalars: rows)
    }

    static func json(_ value: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), as: UTF8.self)
    }

    /// The request as a `POST /v1/score` body with the candidates as columns (`{"item_id": [...], ...}`).
    static func body(of request: ScoreRequest) throws -> String {
        var columns: [String: [Any]] = [:]
        for candidate in request.candidates {
            for (key, value) in candidate {
                switch value {
                case .string(let s): columns[key, default: []].append(s)
                case .integer(let i): columns[key, default: []].append(i)
                case .number(let x): columns[key, default: []].append(x)
                case .bool(let b): columns[key, default: []].append(b)
                case .null, .list: columns[key, default: []].append(NSNull())
                }
            }
        }
        var object: [String: Any] = ["user": request.user, "candidates": columns]
        if let steps = request.steps { object["steps"] = steps }
        return try json(object)
    }
}
