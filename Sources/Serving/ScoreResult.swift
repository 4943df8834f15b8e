/// The scores of one request, in a flat reusable buffer: the allocation-free form the
/// predictor writes into (``Predictor/score(_:into:)``).
///
/// ```
/// scores[c · K + k]   prediction of task k for candidate c: σ(z) (binary) or z (regression)
/// ```
public struct ScoreResult: Sendable, Equatable {
    /// The model's version id (manifest `model_version`).
    public var modelVersion: String
    /// Task (label) names, `K`, in config order.
    public var taskNames: [String]
    /// Whether the towers were fine-tuned on the user's support rows for this request.
    public var finetuned: Bool
    /// `S`: support rows pulled for the user (0 for an unknown user or when not fine-tuning).
    public var supportRows: Int
    /// Why the base towers were used, when they were.
    public var fallback: Fallback?
    /// `(C, K)` row-major predictions.
    public var scores: [Float]
    /// The model repository's version number that scored the request (`metarec serve --models`),
    /// written as `"version"`; `nil` (absent from the JSON) when one model directory is served.
    public var repositoryVersion: Int?

    /// An empty result for `taskNames`.
    public init(modelVersion: String = "", taskNames: [String] = []) {
        self.modelVersion = modelVersion
        self.taskNames = taskNames
        self.finetuned = false
        self.supportRows = 0
        self.fallback = nil
        self.scores = []
        self.repositoryVersion = nil
    }

    /// `C`.
    public var candidateCount: Int { taskNames.isEmpty ? 0 : scores.count / taskNames.count }

    /// Prediction of task `k` for candidate `c`.
    public func score(candidate c: Int, task k: Int) -> Float { scores[c * taskNames.count + k] }

    /// Why a request was served by the base towers.
    public enum Fallback: String, Sendable, Equatable, CaseIterable {
        /// Fine-tuning was switched off (globally or by the request), or `steps` was 0.
        case disabled
        /// The user has no servable support rows (unknown user, all expired, or no labels).
        case noSupport = "no_support"
        /// The user has fewer support rows than `serving.finetune_min_support_rows`.
        case belowMinimumSupport = "below_min_support"
        /// An adapted weight or score was NaN or infinite.
        case nonFinite = "non_finite"
        /// An adapted tower moved further from the base than `serving.fallback_max_weight_change`.
        case outsizedUpdate = "outsized_update"
        /// A fine-tuned regression prediction left the training labels' range (widened by
        /// `serving.fallback_label_margin`).
        case outOfRange = "out_of_range"
        /// The support store could not be read (a shared store down or timing out): the base
        /// towers serve, and the store's failures are counted by cause.
        case supportStoreUnavailable = "support_store_unavailable"
    }
}

/// The JSON response of `POST /v1/score` (`docs/DESIGN.md` §HTTP).
///
/// ```json
/// {"model_version": "…", "finetuned": true, "support_rows": 17, "scores": [{"click": 0.81}]}
/// ```
public struct ScoreResponse: Sendable, Equatable, Codable {
    public var modelVersion: String
    public var finetuned: Bool
    public var supportRows: Int
    /// `C` objects, task name → prediction.
    public var scores: [[String: Float]]
    /// Why the base towers served (a ``ScoreResult/Fallback`` raw value); absent when fine-tuned.
    public var fallback: String?
    /// The repository version number that scored it (``ScoreResult/repositoryVersion``); absent
    /// when one model directory is served.
    public var version: Int?

    enum CodingKeys: String, CodingKey {
        case modelVersion = "model_version", finetuned, supportRows = "support_rows", scores, fallback, version
    }

    public init(_ result: ScoreResult) {
        modelVersion = result.modelVersion
        finetuned = result.finetuned
        supportRows = result.supportRows
        fallback = result.fallback?.rawValue
        version = result.repositoryVersion
        let k = result.taskNames.count
        scores = (0..<result.candidateCount).map { c in
            var row: [String: Float] = [:]
            for t in 0..<k { row[result.taskNames[t]] = result.scores[c * k + t] }
            return row
        }
    }
}

extension ScoreResult {
    /// The response JSON written straight into `out` (faster than `JSONEncoder` for `C·K` floats;
    /// same shape as ``ScoreResponse``). Non-finite scores cannot occur (they fall back), but
    /// would be written as `null` rather than produce invalid JSON.
    public func writeJSON(into out: inout [UInt8]) {
        out.append(contentsOf: #"{"model_version":"#.utf8)
        JSONText.appendString(modelVersion, to: &out)
        out.append(contentsOf: #","finetuned":"#.utf8)
        out.append(contentsOf: (finetuned ? "true" : "false").utf8)
        out.append(contentsOf: #","support_rows":"#.utf8)
        JSONText.appendInteger(Int64(supportRows), to: &out)
        out.append(contentsOf: #","scores":["#.utf8)
        let k = taskNames.count
        // Each task's `"name":` once, then copied per candidate.
        var keys: [UInt8] = [], keyEnds: [Int] = []
        for name in taskNames {
            JSONText.appendString(name, to: &keys)
            keys.append(UInt8(ascii: ":"))
            keyEnds.append(keys.count)
        }
        out.reserveCapacity(out.count + candidateCount * (2 + keys.count + k * 12) + 2)
        keys.withUnsafeBytes { keys in
            for c in 0..<candidateCount {
                if c > 0 { out.append(UInt8(ascii: ",")) }
                out.append(UInt8(ascii: "{"))
                for t in 0..<k {
                    if t > 0 { out.append(UInt8(ascii: ",")) }
                    out.append(contentsOf: keys[(t == 0 ? 0 : keyEnds[t - 1])..<keyEnds[t]])
                    let v = scores[c * k + t]
                    if v.isFinite { JSONText.appendFloat(v, to: &out) } else { out.append(contentsOf: "null".utf8) }
                }
                out.append(UInt8(ascii: "}"))
            }
        }
        out.append(UInt8(ascii: "]"))
        if let fallback {
            out.append(contentsOf: #","fallback":"#.utf8)
            JSONText.appendString(fallback.rawValue, to: &out)
        }
        if let repositoryVersion {
            out.append(contentsOf: #","version":"#.utf8)
            JSONText.appendInteger(Int64(repositoryVersion), to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }
}
