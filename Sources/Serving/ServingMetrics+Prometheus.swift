import ParamServer

extension ServingMetrics {
    /// The Prometheus text exposition (format 0.0.4) of every counter, the latency histograms,
    /// and the stores' gauges (support-store tasks, rows, bytes, evictions, expiries; embedding rows).
    public func prometheusText(support: SupportStore?, embeddings: EmbeddingStore?) -> String {
        let c = counters.withLock { $0 }
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func number(_ x: Double) -> String {
            x.isFinite ? (x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : "\(x)") : (x > 0 ? "+Inf" : "NaN")
        }
        family("metarec_http_requests_total", "counter", "HTTP requests by endpoint and status class.")
        for (e, endpoint) in Endpoint.allCases.enumerated() {
            for (s, code) in ["2xx", "4xx", "5xx"].enumerated() {
                out += "metarec_http_requests_total{endpoint=\"\(endpoint.rawValue)\",status=\"\(code)\"} \(c.requests[e * 3 + s])\n"
            }
        }
        family("metarec_http_request_duration_seconds", "histogram", "HTTP request latency, body read to response written.")
        let nb = Self.latencyBuckets.count + 1
        for (e, endpoint) in Endpoint.allCases.enumerated() {
            var cumulative = 0
            for b in 0..<nb {
                cumulative += c.latency[e * nb + b]
                let le = b < Self.latencyBuckets.count ? number(Self.latencyBuckets[b]) : "+Inf"
                out += "metarec_http_request_duration_seconds_bucket{endpoint=\"\(endpoint.rawValue)\",le=\"\(le)\"} \(cumulative)\n"
            }
            out += "metarec_http_request_duration_seconds_sum{endpoint=\"\(endpoint.rawValue)\"} \(c.latencySum[e])\n"
            out += "metarec_http_request_duration_seconds_count{endpoint=\"\(endpoint.rawValue)\"} \(cumulative)\n"
        }
        family("metarec_scored_requests_total", "counter", "Score requests served (HTTP, offline and in-process).")
        out += "metarec_scored_requests_total \(c.scored)\n"
        family("metarec_finetuned_requests_total", "counter", "Score requests served by towers fine-tuned on the user's support rows.")
        out += "metarec_finetuned_requests_total \(c.finetuned)\n"
        family("metarec_finetune_fallbacks_total", "counter", "Score requests served by the base towers, by reason.")
        for (i, f) in ScoreResult.Fallback.allCases.enumerated() {
            out += "metarec_finetune_fallbacks_total{reason=\"\(f.rawValue)\"} \(c.fallbacks[i])\n"
        }
        family("metarec_events_appended_total", "counter", "Support rows appended from feedback events.")
        out += "metarec_events_appended_total \(c.eventsAppended)\n"
        family("metarec_autobatch_batches_total", "counter", "Auto-batches run (merged score requests).")
        out += "metarec_autobatch_batches_total \(c.batches)\n"
        family("metarec_autobatch_requests_total", "counter", "Score requests that went through the auto-batcher.")
        out += "metarec_autobatch_requests_total \(c.batchedRequests)\n"
        family("metarec_eviction_sweeps_total", "counter", "Periodic eviction sweeps run by the server.")
        out += "metarec_eviction_sweeps_total \(c.sweeps)\n"
        if let support {
            let s = support.statistics
            family("metarec_support_store_entries", "gauge", "Tasks (users) with support rows stored.")
            out += "metarec_support_store_entries \(s.tasks)\n"
            family("metarec_support_store_rows", "gauge", "Support rows stored, including expired rows not yet swept.")
            out += "metarec_support_store_rows \(s.rows)\n"
            family("metarec_support_store_bytes", "gauge", "Heap bytes held by the support store.")
            out += "metarec_support_store_bytes \(s.bytes)\n"
            family("metarec_support_store_evictions_total", "counter", "Tasks evicted by the support store's memory bound.")
            out += "metarec_support_store_evictions_total \(s.tasksEvicted)\n"
            family("metarec_support_store_expired_tasks_total", "counter", "Tasks reclaimed by sweeps (TTL or model version).")
            out += "metarec_support_store_expired_tasks_total \(s.tasksExpired)\n"
            family("metarec_support_store_expired_rows_total", "counter", "Rows reclaimed by sweeps (TTL or model version).")
            out += "metarec_support_store_expired_rows_total \(s.rowsExpired)\n"
        }
        if let embeddings {
            let e = embeddings.statistics
            family("metarec_embedding_rows", "gauge", "Embedding rows stored.")
            out += "metarec_embedding_rows \(e.rows)\n"
            family("metarec_embedding_rows_reclaimed_total", "counter", "Embedding rows reclaimed by expiry sweeps.")
            out += "metarec_embedding_rows_reclaimed_total \(e.rowsReclaimed)\n"
        }
        return out
    }
}
