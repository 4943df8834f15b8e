/// Which scene's STAR tower scores each row (Sheng et al. CIKM 2021, "One Model to Serve All:
/// Star Topology Adaptive Recommender for Multi-Domain CTR Prediction"; `docs/DESIGN.md`
/// §Cross-domain). Every task tower `k` has shared parameters `θ_k = (W, b)` per layer and, for
/// each scene `s = 0 ..< S`, scene factors `(W_s, b_s)` of the same shapes; a row of scene `s`
/// is scored by the effective tower
///
/// ```
/// W_eff,s = W ⊙ W_s      b_eff,s = b + b_s          (every layer of every task tower)
/// ```
/// A row whose scene key is none of `sceneKeys` (a scene unseen at training) is scored by the
/// shared tower alone, i.e. as if `W_s = 1, b_s = 0`, which is also every scene's
/// initialisation (STAR's): training starts from one shared tower.
public struct StarTowers: Sendable, Equatable {
    /// The scene feature's slot among the batch's categorical columns (`categorical[b·Fc + column]`).
    public var column: Int
    /// The scenes' keys (their hashed values), in scene order `s = 0 ..< S`.
    public var sceneKeys: [UInt64]

    public init(column: Int, sceneKeys: [UInt64]) {
        precondition(column >= 0 && !sceneKeys.isEmpty, "StarTowers: column \(column), \(sceneKeys.count) scenes")
        precondition(Set(sceneKeys).count == sceneKeys.count, "StarTowers: duplicate scene keys")
        self.column = column
        self.sceneKeys = sceneKeys
    }

    /// `S`: the scenes with factors of their own.
    public var sceneCount: Int { sceneKeys.count }

    /// Scene index of each of `batch`'s rows (−1 for an unknown scene) into `scenes`, `(B)`.
    public func scenes(of batch: EncodedBatch, into scenes: inout [Int32]) {
        batch.sceneIndices(column: column, sceneKeys: sceneKeys, into: &scenes, owner: "StarTowers")
    }
}
