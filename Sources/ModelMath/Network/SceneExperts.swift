/// Shared and per-scene experts with gates over the shared experts and the row's own scene's
/// (the customized gate control of PLE, Tang et al. RecSys 2020, across scenes as in Tencent's
/// TRS; `docs/DESIGN.md` §Cross-domain). Experts `0 ..< shared` serve every row; scene `s`
/// owns experts `shared + s·perScene ..< shared + (s+1)·perScene`. A row of scene `s` mixes
/// exactly the shared experts and scene `s`'s, through the `n_s = shared + perScene` *local*
/// columns of its gate (a row of an unknown scene: the `shared` ones):
///
/// ```
/// e(c, s)   = c                               c < shared        (local column c → expert)
///           = shared + s·perScene + c − shared   else
/// gates .shared:   z_k = x·W_k + b_k   (B, E),      l_k[b, c] = z_k[b, e(c, scene b)]
/// gates .perScene: l_k[b, :] = x_b·W_{k,s} + b_{k,s}  (n_s)   s = scene b;  unknown: x_b·W_k + b_k  (shared)
/// g_k[b, :] = softmax(l_k[b, :])                        over the row's n_s local columns
/// f_k[b]    = Σ_c g_k[b, c] · h_{e(c, scene b)}[b]
/// E = shared + S · perScene
/// ```
/// With `.shared` gates this is softmax over all `E` logits with the other scenes' set to `−∞`
/// (the masked form, ``mask(_:stride:rows:scenes:)``, which ``MultiTaskNetwork`` keeps as the
/// naive reference): those gate weights, and every gradient through them, are exactly 0. So the
/// training bottom runs scene `s`'s experts (and, with `.perScene` gates, scene `s`'s gates) on
/// scene `s`'s rows only, and a row of an unknown scene (not among `sceneKeys`, e.g. unseen at
/// training) on the shared experts only.
public struct SceneExperts: Sendable, Equatable {
    /// Which gate a row's local logits come from.
    public enum Gates: Sendable, Equatable {
        /// One gate `(D, E)` per task for every scene (the other scenes' columns unused).
        case shared
        /// One gate `(D, shared + perScene)` per task and scene over exactly the shared experts and
        /// that scene's (PLE's customised gate control per scene); a row of an unknown scene uses the
        /// task's gate `(D, shared)` over the shared experts.
        case perScene
    }

    /// The scene feature's slot among the batch's categorical columns (`categorical[b·Fc + column]`).
    public var column: Int
    /// The scenes' keys (their hashed values), in scene order `s = 0 ..< S`.
    public var sceneKeys: [UInt64]
    /// Experts every row mixes (≥ 1, so every row's softmax has a finite term).
    public var shared: Int
    /// Experts of each scene (≥ 1).
    public var perScene: Int
    /// Which gates mix them.
    public var gates: Gates

    public init(column: Int, sceneKeys: [UInt64], shared: Int, perScene: Int, gates: Gates = .shared) {
        precondition(column >= 0 && !sceneKeys.isEmpty && shared >= 1 && perScene >= 1,
                     "SceneExperts: column \(column), \(sceneKeys.count) scenes, shared \(shared), per scene \(perScene)")
        precondition(Set(sceneKeys).count == sceneKeys.count, "SceneExperts: duplicate scene keys")
        self.column = column
        self.sceneKeys = sceneKeys
        self.shared = shared
        self.perScene = perScene
        self.gates = gates
    }

    /// `E`: every expert, shared and per scene.
    public var expertCount: Int { shared + sceneKeys.count * perScene }

    /// `S`: the scenes.
    public var sceneCount: Int { sceneKeys.count }

    /// The widest row's local gate columns, `shared + perScene`.
    public var localWidth: Int { shared + perScene }

    /// Local gate columns of a row of scene `s` (−1: unknown): `shared + perScene`, or `shared`.
    @inlinable public func localCount(scene s: Int) -> Int { s >= 0 ? shared + perScene : shared }

    /// The expert of local column `c` of a row of scene `s` (`c < localCount(scene: s)`).
    @inlinable public func expert(local c: Int, scene s: Int) -> Int { c < shared ? c : shared + s * perScene + (c - shared) }

    /// The scene owning expert `e`, nil for a shared one.
    public func owner(ofExpert e: Int) -> Int? { e < shared ? nil : (e - shared) / perScene }

    /// Scene index of each of `batch`'s rows (−1 for an unknown scene) into `scenes`, `(B)`.
    public func scenes(of batch: EncodedBatch, into scenes: inout [Int32]) {
        batch.sceneIndices(column: column, sceneKeys: sceneKeys, into: &scenes, owner: "SceneExperts")
    }

    /// Sets the masked gate logits of rows `rows` to `−∞`: row `r` of `logits` (stride `stride`,
    /// `E` columns from its start) is batch row `rows.lowerBound + r`, whose scene is
    /// `scenes[rows.lowerBound + r]`. (The naive reference's form of the shared gates.)
    public func mask(_ logits: UnsafeMutablePointer<Float>, stride: Int, rows: Range<Int>, scenes: [Int32]) {
        for (r, b) in rows.enumerated() {
            let own = Int(scenes[b]), row = logits + r * stride
            for s in 0..<sceneKeys.count where s != own {
                let first = shared + s * perScene
                for e in first..<(first + perScene) { row[e] = -.infinity }
            }
        }
    }

    /// Shared gates: each row's local logits from its `E` logits,
    /// `local[b, c] = full[b, e(c, scene b)]` for `c < n(b)`, `−∞` for `n(b) ≤ c < localWidth`.
    func gatherLocal(full: UnsafePointer<Float>, fullStride: Int, rows b: Int, scenes: UnsafePointer<Int32>,
                     local: UnsafeMutablePointer<Float>, localStride: Int) {
        for r in 0..<b {
            let s = Int(scenes[r]), n = localCount(scene: s)
            for c in 0..<localWidth {
                local[r * localStride + c] = c < n ? full[r * fullStride + expert(local: c, scene: s)] : -.infinity
            }
        }
    }

    /// Backward of ``gatherLocal(full:fullStride:rows:scenes:local:localStride:)``: each row's
    /// local gradient written to its experts' columns of `dFull` (the others left as they are).
    func scatterLocal(dLocal: UnsafePointer<Float>, localStride: Int, rows b: Int, scenes: UnsafePointer<Int32>,
                      dFull: UnsafeMutablePointer<Float>, fullStride: Int) {
        for r in 0..<b {
            let s = Int(scenes[r])
            for c in 0..<localCount(scene: s) { dFull[r * fullStride + expert(local: c, scene: s)] = dLocal[r * localStride + c] }
        }
    }
}
