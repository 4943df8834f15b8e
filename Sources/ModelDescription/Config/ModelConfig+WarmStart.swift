extension ModelConfig {
    /// Why a model trained with `source` cannot warm-start one with this config, or `nil`.
    ///
    /// Per-scene parameters (a scene's experts and gates, STAR factors, partitioned norm) are stored by the scene's position
    /// in its list, so a warm start keeps positions: where both configs list scenes for the same
    /// machinery, the lists must be equal, in the same order, over the same `scene` column.
    /// Switching a machinery on (the source has none) or off (this config has none) is allowed;
    /// ``ModelDirectory/readParameters(like:warmStart:)`` fills or drops those tensors.
    public func sceneMismatch(warmStartingFrom source: ModelConfig) -> String? {
        let lists: [(key: String, mine: [String]?, theirs: [String]?)] = [
            ("model.scene_experts.scenes", model.sceneExperts?.scenes, source.model.sceneExperts?.scenes),
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
        return nil
    }
}
