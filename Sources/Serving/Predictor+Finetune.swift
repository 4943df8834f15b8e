import Models
import TensorCore

extension Predictor {
    /// Adapts each tower on the request's support and scores its candidates (`rows` of
    /// `ws.network.meta`), or scores them with the base towers on a fallback.
    func finish(_ request: ScoreRequest, rows: Range<Int>, workspace ws: inout PredictorWorkspace, into result: inout ScoreResult) {
        let k = tasks.count, c = rows.count
        let finetune = request.finetune ?? settings.finetune
        let adaptation = TowerAdaptation(
            steps: request.steps ?? settings.adaptation.steps,
            learningRate: request.learningRate.map { Float($0) } ?? settings.adaptation.learningRate)
        result.scores.removeAll(keepingCapacity: true)
        result.scores.append(contentsOf: repeatElement(0, count: c * k))
        result.supportRows = 0
        result.finetuned = false
        result.fallback = nil

        var fallback: ScoreResult.Fallback?
        var adaptedTasks = 0
        var s = 0
        if !finetune || adaptation.steps == 0 {
            fallback = .disabled
        } else {
            s = Self.pull(model.support, task: taskKey(user: request.user), features: &ws.supportFeatures, labels: &ws.supportLabels)
            if s == 0 { fallback = .noSupport }
        }
        result.supportRows = s
        if fallback == nil, c > 0 {
            for t in 0..<k {
                loadSupport(task: t, rows: s, workspace: &ws)
                guard TaskLoss.labelledCount(ws.supportTaskLabels) > 0 else { continue }
                ws.fast[t].overwrite(with: model.parameters.towers[t])
                ws.fast[t].adapt(on: ws.supportMeta, labels: ws.supportTaskLabels, kind: tasks[t].kind,
                                 activation: spec.activation, adaptation: adaptation, workspace: &ws.tower)
                guard ws.fast[t].isFinite,
                      predict(tower: ws.fast[t], task: t, rows: rows, workspace: &ws, into: &result) else {
                    fallback = .nonFinite
                    break
                }
                adaptedTasks |= 1 << t
            }
            if fallback == .nonFinite { adaptedTasks = 0 }
            if adaptedTasks == 0, fallback == nil { fallback = .noSupport }  // support rows but no labels
        }
        if c > 0 {
            for t in 0..<k where adaptedTasks & (1 << t) == 0 {
                // The base towers are trained weights: a non-finite score here is the model's, not the request's.
                _ = predict(tower: model.parameters.towers[t], task: t, rows: rows, workspace: &ws, into: &result)
            }
        }
        result.finetuned = adaptedTasks != 0
        result.fallback = fallback
        metrics.recordScore(finetuned: result.finetuned, fallback: fallback)
    }

    /// Scores `rows` of `ws.network.meta[t]` with `tower` into column `t` of `result.scores`;
    /// returns whether every score is finite.
    func predict(tower: MLPParameters, task t: Int, rows: Range<Int>, workspace ws: inout PredictorWorkspace,
                 into result: inout ScoreResult) -> Bool {
        let h = spec.metaWidth, k = tasks.count, c = rows.count
        let shape = ws.shape(rows: c, width: h)
        ws.candidateMeta.reshapeIfNeeded(shape)
        Self.copyRows(ws.network.meta[t], from: rows.lowerBound, count: c, width: h, into: &ws.candidateMeta)
        TowerObjective.predictions(tower, input: ws.candidateMeta, kind: tasks[t].kind, activation: spec.activation,
                                   into: &ws.predictions, workspace: &ws.scoring)
        var finite = true
        ws.predictions.withUnsafeBufferPointer { p in
            result.scores.withUnsafeMutableBufferPointer { out in
                for i in 0..<c {
                    out[i * k + t] = p[i]
                    finite = finite && p[i].isFinite
                }
            }
        }
        return finite
    }

    /// `ws.supportMeta` `(S, H)` = column block `t` of the pulled `(S, K·H)` rows; `ws.supportTaskLabels` `(S)` = label `t`.
    func loadSupport(task t: Int, rows s: Int, workspace ws: inout PredictorWorkspace) {
        let h = spec.metaWidth, k = tasks.count
        let matrix = ws.shape(rows: s, width: h), vector = ws.shape(count: s)
        ws.supportMeta.reshapeIfNeeded(matrix)
        ws.supportTaskLabels.reshapeIfNeeded(vector)
        Self.copyBlock(ws.supportFeatures, rows: s, rowWidth: k * h, column: t * h, width: h, into: &ws.supportMeta)
        Self.copyBlock(ws.supportLabels, rows: s, rowWidth: k, column: t, width: 1, into: &ws.supportTaskLabels)
    }

    static func pull(_ store: SupportStore, task: UInt64, features: inout [Float], labels: inout [Float]) -> Int {
        features.withUnsafeMutableBufferPointer { f in
            labels.withUnsafeMutableBufferPointer { l in store.pull(task: task, features: f, labels: l) }
        }
    }

    /// `dst[i, :] = src[i·rowWidth + column ..< … + width]` for `i < rows`.
    static func copyBlock(_ src: [Float], rows: Int, rowWidth: Int, column: Int, width: Int, into dst: inout Tensor) {
        src.withUnsafeBufferPointer { s in
            dst.withUnsafeMutableBufferPointer { d in
                for i in 0..<rows {
                    (d.baseAddress! + i * width).update(from: s.baseAddress! + i * rowWidth + column, count: width)
                }
            }
        }
    }

    /// `dst = src[first ..< first + count, :]` of a `(B, width)` matrix.
    static func copyRows(_ src: Tensor, from first: Int, count: Int, width: Int, into dst: inout Tensor) {
        guard count > 0 else { return }
        src.withUnsafeBufferPointer { s in
            dst.withUnsafeMutableBufferPointer { d in
                d.baseAddress!.update(from: s.baseAddress! + first * width, count: count * width)
            }
        }
    }
}

import ParamServer
