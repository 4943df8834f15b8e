import ModelDescription
import ModelMath
import ParamServer
import TensorCore

extension Predictor {
    /// Adapts each tower on the request's support and scores its candidates (`rows` of
    /// `ws.network.meta`), or scores them with the base towers on a fallback.
    func finish(_ request: ScoreRequest, rows: Range<Int>, workspace ws: inout PredictorWorkspace, into result: inout ScoreResult) {
        let k = tasks.count, c = rows.count
        let finetune = request.finetune ?? settings.finetune
        var adaptation = settings.adaptation
        if let steps = request.steps { adaptation.steps = steps }
        if let rate = request.learningRate { adaptation.learningRate = Float(rate) }
        result.scores.removeAll(keepingCapacity: true)
        result.scores.append(contentsOf: repeatElement(0, count: c * k))
        result.supportRows = 0
        result.finetuned = false
        result.fallback = nil

        var fallback: ScoreResult.Fallback?
        var adaptedTasks = 0
        var s = 0
        if !finetune || adaptation.isIdentity {
            fallback = .disabled
        } else {
            do throws(SupportStoreUnavailable) {
                s = try supportRows(task: taskKey(user: request.user), workspace: &ws)
                if s == 0 { fallback = .noSupport } else if s < settings.minimumSupportRows { fallback = .belowMinimumSupport }
            } catch {
                fallback = .supportStoreUnavailable  // counted by cause where the pull failed
            }
        }
        result.supportRows = s
        let scene = requestScene(rows: rows, scenes: ws.network.starScenes)
        if fallback == nil, c > 0 {
            for t in 0..<k {
                guard adaptFast(task: t, scene: scene, supportRows: s, policy: adaptation, workspace: &ws) else { continue }
                if let refused = served(task: t, scene: scene, rows: rows, workspace: &ws, into: &result) {
                    fallback = refused
                    break
                }
                adaptedTasks |= 1 << t
            }
            if fallback != nil { adaptedTasks = 0 }
            if adaptedTasks == 0, fallback == nil { fallback = .noSupport }  // support rows but no labels
        }
        if c > 0 {
            for t in 0..<k where adaptedTasks & (1 << t) == 0 {
                // The base towers are trained weights: a non-finite score here is the model's, not the request's.
                // Each candidate is scored by its own scene's tower (as `metarec eval` scores a row), a run of
                // equal scenes at a time; only adaptation needs one scene for the whole request.
                var start = rows.lowerBound
                while start < rows.upperBound {
                    var end = rows.upperBound, runScene = -1
                    if spec.starTowers != nil {
                        runScene = Int(ws.network.starScenes[start])
                        end = start + 1
                        while end < rows.upperBound && Int(ws.network.starScenes[end]) == runScene { end += 1 }
                    }
                    _ = predict(tower: baseTower(t, scene: runScene), task: t, rows: start..<end, firstCandidate: start - rows.lowerBound,
                                workspace: &ws, into: &result)
                    start = end
                }
            }
        }
        result.finetuned = adaptedTasks != 0
        result.fallback = fallback
        metrics.recordScore(finetuned: result.finetuned, fallback: fallback)
    }

    /// Scores the request's candidates with task `t`'s adapted tower, or says why that tower is
    /// refused (then the whole request is re-scored with the base towers): a non-finite weight or
    /// score, an outsized update, or a regression score outside the label's range.
    private func served(task t: Int, scene: Int, rows: Range<Int>, workspace ws: inout PredictorWorkspace,
                        into result: inout ScoreResult) -> ScoreResult.Fallback? {
        guard ws.fast[t].parameters.isFinite else { return .nonFinite }
        guard guards[t].acceptsUpdate(from: baseTower(t, scene: scene), to: ws.fast[t].parameters) else { return .outsizedUpdate }
        guard predict(tower: ws.fast[t].parameters, task: t, rows: rows, workspace: &ws, into: &result) else { return .nonFinite }
        let inRange = result.scores.withUnsafeBufferPointer { scores in
            guards[t].acceptsPredictions(scores.baseAddress! + t, count: rows.count, stride: tasks.count)
        }
        return inRange ? nil : .outOfRange
    }

    /// Scores `rows` of `ws.network.meta[t]` with `tower` into column `t` of `result.scores`, from
    /// candidate `firstCandidate` of the request on (read and written in place through strides);
    /// returns whether every score is finite.
    func predict(tower: MLPParameters, task t: Int, rows: Range<Int>, firstCandidate: Int = 0, workspace ws: inout PredictorWorkspace,
                 into result: inout ScoreResult) -> Bool {
        let h = spec.metaWidth, k = tasks.count
        return ws.network.meta[t].withUnsafeBufferPointer { f in
            result.scores.withUnsafeMutableBufferPointer { out in
                TowerObjective.predictions(tower, rows: rows.count, features: f.baseAddress! + rows.lowerBound * h,
                                           featureStride: h, kind: tasks[t].kind, activation: spec.activation,
                                           into: out.baseAddress! + firstCandidate * k + t, outputStride: k, workspace: &ws.scoring)
            }
        }
    }

    /// Task `t`'s base tower as scene `scene` sees it: the STAR effective tower `θ_eff,s`
    /// (formed at load), or the shared tower for an unknown scene (−1) or a model without STAR.
    func baseTower(_ t: Int, scene: Int) -> MLPParameters {
        scene >= 0 && !sceneTowers.isEmpty ? sceneTowers[t][scene] : model.parameters.towers[t]
    }

    /// The STAR scene a request's adaptation uses: that of its candidates (`rows` of the merged
    /// batch), the scene of most of them when they differ (ties: the lower index; mostly unknown:
    /// −1, the shared towers), as training takes a task's scene; −1 without STAR towers. The
    /// support rows it adapts on may come from any scene (the store keeps no scene). Base scores
    /// use each candidate's own scene. Allocates nothing.
    func requestScene(rows: Range<Int>, scenes: [Int32]) -> Int {
        guard spec.starTowers != nil, !rows.isEmpty else { return -1 }
        let first = scenes[rows.lowerBound]
        if rows.allSatisfy({ scenes[$0] == first }) { return Int(first) }
        var best = Int32(-1), bestCount = -1
        for s in Int32(-1)..<Int32(spec.starTowers!.sceneCount) {
            let count = rows.reduce(0) { $0 + (scenes[$1] == s ? 1 : 0) }
            if count > bestCount { (best, bestCount) = (s, count) }
        }
        return Int(best)
    }

    /// Sets `ws.fast[t]` to task `t`'s base tower (of `scene`, ``baseTower(_:scene:)``) adapted on the `s` support rows in
    /// `ws.supportFeatures`/`ws.supportLabels`; false (nothing adapted) when none of them has
    /// task `t`'s label. Task `t`'s support is column block `t` of the `(S, K·H)` rows and
    /// column `t` of the `(S, K)` labels.
    func adaptFast(task t: Int, scene: Int = -1, supportRows s: Int, policy: Adaptation, workspace ws: inout PredictorWorkspace) -> Bool {
        let k = tasks.count, h = spec.metaWidth
        let labelled = ws.supportLabels.withUnsafeBufferPointer { TaskLoss.labelledCount($0.baseAddress! + t, count: s, stride: k) }
        guard labelled > 0 else { return false }
        ws.fast[t].parameters.overwrite(with: baseTower(t, scene: scene))
        ws.supportFeatures.withUnsafeBufferPointer { f in
            ws.supportLabels.withUnsafeBufferPointer { y in
                // Task t's support is column block t of the (S, W) rows (W = K·H, + 2 with the
                // support encoder's item key) and column t of the (S, K) labels.
                let support = TowerRows(count: s, features: f.baseAddress! + t * h, featureStride: supportRowWidth,
                                        labels: y.baseAddress! + t, labelStride: k)
                ws.fast[t].adapt(on: support, policy: policy, workspace: &ws.tower)
            }
        }
        return true
    }

    static func pull(_ store: SupportStore, task: UInt64, features: inout [Float], labels: inout [Float]) -> Int {
        features.withUnsafeMutableBufferPointer { f in
            labels.withUnsafeMutableBufferPointer { l in store.pull(task: task, features: f, labels: l) }
        }
    }
}
