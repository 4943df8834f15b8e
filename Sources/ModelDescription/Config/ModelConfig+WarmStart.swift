extension ModelConfig {
    /// Why a model trained with `source` cannot warm-start one with this config, or `nil`.
    ///
    /// Per-scene parameters (a scene's experts and gates, STAR factors, partitioned norm) are
    /// stored by the scene's position in its list, and experts by their index, so a warm start
    /// keeps positions:
    /// - where both configs list scenes for STAR towers or partitioned norm, the lists must be
    ///   equal, in the same order, over the same `scene` column; switching either on (the source
    ///   has none) or off is allowed: ``ModelDirectory/readParameters(like:warmStart:)`` fills
    ///   their tensors with the initial factors or drops them;
    /// - scene experts must be the same on both sides (absent on both, or the same shared
    ///   count, scenes, experts per scene and gate kind): an expert index means another expert
    ///   otherwise, even where the shapes happen to agree;
    /// - every feature must keep its `scene_embedding`, and with any scene-private feature the
    ///   `scene` column must stay: private keys are scoped by the scene's key, so a change would
    ///   leave every restored private row unread.
    public func sceneMismatch(warmStartingFrom source: ModelConfig) -> String? {
        if model.sceneExperts != source.model.sceneExperts
            || (model.sceneExperts != nil && (model.experts != source.model.experts || scene != source.scene)) {
            return "model.scene_experts: the warm-start model has \(Self.describe(source.model.sceneExperts, shared: source.model.experts)), "
                + "this config \(Self.describe(model.sceneExperts, shared: model.experts)); expert and gate parameters are kept by "
                + "index, so scene experts must be the same on both sides"
        }
        let lists: [(key: String, mine: [String]?, theirs: [String]?)] = [
            ("model.star_towers.scenes", model.starTowers?.scenes, source.model.starTowers?.scenes),
            ("model.partitioned_norm.scenes", model.partitionedNorm?.scenes, source.model.partitionedNorm?.scenes),
        ]
        for (key, mine, theirs) in lists {
            guard let mine, let theirs else { continue }
            if scene != source.scene {
                return "\(key): the warm-start model's scenes are values of column \(source.scene ?? "none"), this config's of \(scene ?? "none")"
            }
            if mine != theirs {
                return "\(key): the warm-start model lists \(theirs), this config \(mine); per-scene parameters are kept by position, so list the same scenes in the same order"
            }
        }
        let theirs = Dictionary(source.features.map { ($0.name, $0.sceneEmbedding) }, uniquingKeysWith: { a, _ in a })
        for f in features {
            if let before = theirs[f.name], before != f.sceneEmbedding {
                return "features.\(f.name).scene_embedding: the warm-start model has \(before.rawValue), this config \(f.sceneEmbedding.rawValue); "
                    + "the feature's restored rows would go unread"
            }
        }
        if scene != source.scene, let f = features.first(where: { $0.sceneEmbedding != .shared }) {
            return "scene: the warm-start model's scene column is \(source.scene ?? "none"), this config's \(scene ?? "none"); "
                + "\(f.name)'s private rows are keyed by the scene's values, so they would go unread"
        }
        return nil
    }

    private static func describe(_ spec: SceneExpertsSpec?, shared: Int) -> String {
        guard let spec else { return "no scene experts (\(shared) experts)" }
        return "\(shared) shared + \(spec.perScene) per scene of \(spec.scenes), gates \(spec.gates.rawValue)"
    }
}
