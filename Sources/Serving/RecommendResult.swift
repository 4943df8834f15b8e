/// The answer to one `POST /v1/recommend`: the best `k` of the recalled items by one task's
/// ranker score, with both scores.
///
/// ```json
/// {"model_version": "…", "retrieval_model_version": "…", "order_by": "click", "finetuned": true,
///  "support_rows": 17, "history_items": 12, "unknown_history": ["x"], "recalled": 200,
///  "items": [{"item": "7", "retrieval_score": 0.42, "scores": {"click": 0.81, "rating": 4.1}}, …]}
/// ```
public struct RecommendResult: Sendable, Equatable {
    /// The ranker's result for the `n` recalled candidates (`scores` `(n, K)`).
    public var ranked: ScoreResult
    public var retrievalModelVersion: String
    /// The task whose score orders ``order``.
    public var orderBy: String
    /// History items the user tower read: the known keys (unknown ones skipped), at most the model's `L`.
    public var historyItems: Int
    /// History keys not in the catalogue (skipped).
    public var unknownHistory: [String]
    /// The `n` recalled item keys and their retrieval scores `⟨u, v_i⟩`, recall order.
    public var keys: [String]
    public var retrievalScores: [Float]
    /// Indices into ``keys`` of the returned items, best first (`k` or fewer).
    public var order: [Int]

    public init(ranked: ScoreResult, retrievalModelVersion: String, orderBy: String, historyItems: Int, unknownHistory: [String],
                keys: [String], retrievalScores: [Float], order: [Int]) {
        (self.ranked, self.retrievalModelVersion, self.orderBy) = (ranked, retrievalModelVersion, orderBy)
        (self.historyItems, self.unknownHistory) = (historyItems, unknownHistory)
        (self.keys, self.retrievalScores, self.order) = (keys, retrievalScores, order)
    }

    /// The response JSON (the shape above) into `out`.
    public func writeJSON(into out: inout [UInt8]) {
        func field(_ name: String, first: Bool = false) {
            if !first { out.append(UInt8(ascii: ",")) }
            JSONText.appendString(name, to: &out)
            out.append(UInt8(ascii: ":"))
        }
        func number(_ v: Float) { if v.isFinite { JSONText.appendFloat(v, to: &out) } else { out.append(contentsOf: "null".utf8) } }
        out.append(UInt8(ascii: "{"))
        field("model_version", first: true); JSONText.appendString(ranked.modelVersion, to: &out)
        field("retrieval_model_version"); JSONText.appendString(retrievalModelVersion, to: &out)
        field("order_by"); JSONText.appendString(orderBy, to: &out)
        field("finetuned"); out.append(contentsOf: (ranked.finetuned ? "true" : "false").utf8)
        field("support_rows"); JSONText.appendInteger(Int64(ranked.supportRows), to: &out)
        field("history_items"); JSONText.appendInteger(Int64(historyItems), to: &out)
        field("unknown_history"); out.append(UInt8(ascii: "["))
        for (i, key) in unknownHistory.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONText.appendString(key, to: &out)
        }
        out.append(UInt8(ascii: "]"))
        field("recalled"); JSONText.appendInteger(Int64(keys.count), to: &out)
        field("items"); out.append(UInt8(ascii: "["))
        for (rank, c) in order.enumerated() {
            if rank > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "{"))
            field("item", first: true); JSONText.appendString(keys[c], to: &out)
            field("retrieval_score"); number(retrievalScores[c])
            field("scores"); out.append(UInt8(ascii: "{"))
            for (t, task) in ranked.taskNames.enumerated() {
                field(task, first: t == 0); number(ranked.score(candidate: c, task: t))
            }
            out.append(contentsOf: "}}".utf8)
        }
        out.append(contentsOf: "]}".utf8)
    }
}
