import ModelDescription
import ModelMath
import ParamServer

/// Rows of a shared support store for one batch's distinct users (`n` users, `S_max` rows each,
/// `W` features and `K` labels a row), or why they could not be read.
struct PrefetchedSupport: Sendable {
    var tasks: [UInt64] = []              // (n)
    var features: [Float] = []            // (n, S_max, W)
    var labels: [Float] = []              // (n, S_max, K)
    var counts: [Int] = []                // (n)
    /// Set when the pull failed: every user of the batch falls back.
    var failure: SupportStoreUnavailable?

    mutating func clear() {
        tasks.removeAll(keepingCapacity: true)
        failure = nil
    }
}

extension Predictor {
    /// Pulls the support rows of every distinct user of a merged batch in one call when the store
    /// is shared (one pipelined Redis round trip a batch, `docs/DESIGN.md` §Serving fleet); with
    /// the in-process store, nothing: each request pulls its own rows as it is scored.
    /// A failure is kept for ``supportRows(task:workspace:)`` and counted once for the batch.
    func prefetchSupport(_ requests: [ScoreRequest], failed: [Int: ServingError], workspace ws: inout PredictorWorkspace) {
        ws.prefetched.clear()
        guard localSupport == nil else { return }
        for r in requests.indices where failed[r] == nil && (requests[r].finetune ?? settings.finetune || supportEncoder != nil) {
            let task = taskKey(user: requests[r].user)
            if !ws.prefetched.tasks.contains(task) { ws.prefetched.tasks.append(task) }
        }
        let n = ws.prefetched.tasks.count, s = supportStore.capacity
        guard n > 0 else { return }
        Self.grow(&ws.prefetched.features, to: n * s * supportStore.rowWidth)
        Self.grow(&ws.prefetched.labels, to: n * s * supportStore.labelWidth)
        if ws.prefetched.counts.count < n { ws.prefetched.counts.append(contentsOf: repeatElement(0, count: n - ws.prefetched.counts.count)) }
        do throws(SupportStoreUnavailable) {
            try ws.prefetched.tasks.withUnsafeBufferPointer { (tasks) throws(SupportStoreUnavailable) in
                try ws.prefetched.features.withUnsafeMutableBufferPointer { (f) throws(SupportStoreUnavailable) in
                    try ws.prefetched.labels.withUnsafeMutableBufferPointer { (y) throws(SupportStoreUnavailable) in
                        try ws.prefetched.counts.withUnsafeMutableBufferPointer { (c) throws(SupportStoreUnavailable) in
                            try supportStore.pullRows(tasks, features: f, labels: y, counts: c)
                        }
                    }
                }
            }
        } catch {
            ws.prefetched.failure = error
            metrics.recordSupportStoreFailure(error, appending: false)
        }
    }

    /// Copies `task`'s servable rows into `ws.supportFeatures` `(S, W)` and `ws.supportLabels`
    /// `(S, K)`, oldest first, and returns `S`: from the in-process store directly (allocation
    /// free), from the batch's prefetched rows, or with one pull of its own.
    ///
    /// - Throws: ``ParamServer/SupportStoreUnavailable`` when a shared store could not be read.
    func supportRows(task: UInt64, workspace ws: inout PredictorWorkspace) throws(SupportStoreUnavailable) -> Int {
        if let localSupport { return Self.pull(localSupport, task: task, features: &ws.supportFeatures, labels: &ws.supportLabels) }
        if let i = ws.prefetched.tasks.firstIndex(of: task) {
            if let failure = ws.prefetched.failure { throw failure }
            let s = ws.prefetched.counts[i], w = supportStore.rowWidth, k = supportStore.labelWidth, cap = supportStore.capacity
            ws.supportFeatures.withUnsafeMutableBufferPointer { out in
                ws.prefetched.features.withUnsafeBufferPointer { out.baseAddress!.update(from: $0.baseAddress! + i * cap * w, count: s * w) }
            }
            ws.supportLabels.withUnsafeMutableBufferPointer { out in
                ws.prefetched.labels.withUnsafeBufferPointer { out.baseAddress!.update(from: $0.baseAddress! + i * cap * k, count: s * k) }
            }
            return s
        }
        var count = 0
        do throws(SupportStoreUnavailable) {
            try withUnsafePointer(to: task) { (key) throws(SupportStoreUnavailable) in
                try ws.supportFeatures.withUnsafeMutableBufferPointer { (f) throws(SupportStoreUnavailable) in
                    try ws.supportLabels.withUnsafeMutableBufferPointer { (y) throws(SupportStoreUnavailable) in
                        try withUnsafeMutablePointer(to: &count) { (c) throws(SupportStoreUnavailable) in
                            try supportStore.pullRows(UnsafeBufferPointer(start: key, count: 1), features: f, labels: y,
                                                      counts: UnsafeMutableBufferPointer(start: c, count: 1))
                        }
                    }
                }
            }
        } catch {
            metrics.recordSupportStoreFailure(error, appending: false)
            throw error
        }
        return count
    }

    /// The support encoder's view of `task`'s rows (``ModelDescription/SupportStore/supportEncoderRows(task:encoder:features:labels:)``'s
    /// columns) through ``supportRows(task:workspace:)``: each row's source key and weighting label.
    func supportEncoderRows(task: UInt64, encoder: SupportEncoder,
                            workspace ws: inout PredictorWorkspace) throws(SupportStoreUnavailable) -> (keys: [UInt64], labels: [Float]) {
        let s = try supportRows(task: task, workspace: &ws)
        return SupportEncoderRows.read(count: s, features: ws.supportFeatures, rowWidth: supportRowWidth,
                                       labels: ws.supportLabels, labelWidth: tasks.count, encoder: encoder)
    }

    static func grow(_ buffer: inout [Float], to count: Int) {
        if buffer.count < count { buffer.append(contentsOf: repeatElement(0, count: count - buffer.count)) }
    }
}
