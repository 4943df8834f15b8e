import ModelMath
import TensorCore

extension Predictor {
    /// `user`'s scorer for export to a device (``PersonalScorer``): each task's tower adapted on
    /// the user's support rows with the serving policy — the same pull and ``Tower/adapt`` as a
    /// score request — or the base towers on the serving fallbacks (fine-tuning off, no or too
    /// little support, a non-finite or outsized update; then every task falls back, as a request
    /// does). The range guard on a regression task's scores needs candidates and is left to the
    /// device.
    ///
    /// A model with STAR towers has no scorer here (a precondition): the scorer takes no scene,
    /// so it would score every scene with the shared towers.
    public func personalScorer(user: String) -> PersonalScorer {
        precondition(sceneTowers.isEmpty, "Predictor.personalScorer: a model with STAR towers (model.star_towers) has no scene-free scorer")
        return withWorkspace { (ws: inout PredictorWorkspace) in
            let k = tasks.count
            var adapted = [Bool](repeating: false, count: k)
            var fallback: ScoreResult.Fallback?
            var s = 0
            if !settings.finetune || settings.adaptation.isIdentity {
                fallback = .disabled
            } else {
                if let pulled = try? supportRows(task: taskKey(user: user), workspace: &ws) {
                    s = pulled
                    if s == 0 { fallback = .noSupport } else if s < settings.minimumSupportRows { fallback = .belowMinimumSupport }
                } else {
                    fallback = .supportStoreUnavailable
                }
            }
            if fallback == nil {
                for t in 0..<k where adaptFast(task: t, supportRows: s, policy: settings.adaptation, workspace: &ws) {
                    guard ws.fast[t].parameters.isFinite else { fallback = .nonFinite; break }
                    guard guards[t].acceptsUpdate(from: model.parameters.towers[t], to: ws.fast[t].parameters) else {
                        fallback = .outsizedUpdate
                        break
                    }
                    adapted[t] = true
                }
                if fallback != nil { adapted = adapted.map { _ in false } }
                if fallback == nil, !adapted.contains(true) { fallback = .noSupport }
            }
            let towers = (0..<k).map { t in adapted[t] ? ws.fast[t].parameters : model.parameters.towers[t] }
            return PersonalScorer(towers: towers, kinds: tasks.map(\.kind), taskNames: taskNames, activation: spec.activation,
                                  metaWidth: spec.metaWidth, adapted: adapted, supportRows: s, fallback: fallback)
        }
    }

    /// The meta-layer inputs `[f_1 | … | f_K]` `(C, K·H)` row-major of a request's candidates:
    /// the request's encoding and the shared bottom, as ``score(_:)`` runs them.
    ///
    /// - Throws: ``ServingError`` naming the bad field.
    public func metaLayerInputs(of request: ScoreRequest) throws(ServingError) -> [Float] {
        try validate(request)
        return try withWorkspace { (ws: inout PredictorWorkspace) throws(ServingError) -> [Float] in
            try encodeAlone(request, workspace: &ws)
            runBottom(workspace: &ws)
            let c = ws.batch.count, k = tasks.count, h = spec.metaWidth
            var out = [Float](repeating: 0, count: c * k * h)
            for t in 0..<k {
                ws.network.meta[t].withUnsafeBufferPointer { m in
                    for r in 0..<c {
                        for j in 0..<h { out[(r * k + t) * h + j] = m[r * h + j] }
                    }
                }
            }
            return out
        }
    }
}
