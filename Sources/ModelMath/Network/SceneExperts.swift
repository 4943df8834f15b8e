/// Shared and per-scene experts with gates over the shared experts and the row's own scene's
/// (the customized gate control of PLE, Tang et al. RecSys 2020, across scenes as in Tencent's
/// TRS; `docs/DESIGN.md` §Cross-domain). Experts `0 ..< shared` serve every row; scene `s`
/// owns experts `shared + s·perScene ..< shared + (s+1)·perScene`. A row's gate logits for the
/// other scenes' experts are `−∞` before the softmax, so their gate weights, and the gradients
/// reaching those experts and gate columns through that row, are exactly 0:
///
/// ```
/// g_k[b, e] = softmax_e( z_k[b, e] + m[b, e] )      m[b, e] = 0 if owner(e) ∈ {shared, scene(b)}, −∞ else
/// E = shared + S · perScene                          z_k, g_k: (B, E)
/// ```
/// A row whose scene key is none of `sceneKeys` (a scene unseen at training) mixes the shared
/// experts alone.
public struct SceneExperts: Sendable, Equatable {
    /// The scene feature's slot among the batch's categorical columns (`categorical[b·Fc + column]`).
    public var column: Int
    /// The scenes' keys (their hashed values), in scene order `s = 0 ..< S`.
    public var sceneKeys: [UInt64]
    /// Experts every row mixes (≥ 1, so every row's softmax has a finite term).
    public var shared: Int
    /// Experts of each scene (≥ 1).
    public var perScene: Int

    public init(column: Int, sceneKeys: [UInt64], shared: Int, perScene: Int) {
        precondition(column >= 0 && !sceneKeys.isEmpty && shared >= 1 && perScene >= 1,
                     "SceneExperts: column \(column), \(sceneKeys.count) scenes, shared \(shared), per scene \(perScene)")
        precondition(Set(sceneKeys).count == sceneKeys.count, "SceneExperts: duplicate scene keys")
        self.column = column
        self.sceneKeys = sceneKeys
        self.shared = shared
        self.perScene = perScene
    }

    /// `E`: every expert, shared and per scene.
    public var expertCount: Int { shared + sceneKeys.count * perScene }

    /// Scene index of each of `batch`'s rows (−1 for an unknown scene) into `scenes`, `(B)`.
    public func scenes(of batch: EncodedBatch, into scenes: inout [Int32]) {
        let fc = batch.categoricalWidth
        precondition(column < fc, "SceneExperts: scene column \(column) of \(fc) categorical columns")
        scenes.removeAll(keepingCapacity: true)
        for b in 0..<batch.count {
            let key = batch.categorical[b * fc + column]
            scenes.append(Int32(sceneKeys.firstIndex(of: key) ?? -1))
        }
    }

    /// Sets the masked gate logits of rows `rows` to `−∞`: row `r` of `logits` (stride `stride`,
    /// `E` columns from its start) is batch row `rows.lowerBound + r`, whose scene is
    /// `scenes[rows.lowerBound + r]`.
    public func mask(_ logits: UnsafeMutablePointer<Float>, stride: Int, rows: Range<Int>, scenes: [Int32]) {
        for (r, b) in rows.enumerated() {
            let own = Int(scenes[b]), row = logits + r * stride
            for s in 0..<sceneKeys.count where s != own {
                let first = shared + s * perScene
                for e in first..<(first + perScene) { row[e] = -.infinity }
            }
        }
    }
}
