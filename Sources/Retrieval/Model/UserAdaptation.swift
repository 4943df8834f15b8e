import TensorCore

/// Per-request adaptation of a user's embedding on their own most recent items: a few gradient
/// steps of the full-catalogue softmax loss of those items, on the unit sphere the user tower's
/// output lives on (`docs/DESIGN.md` §Retrieval, "meta": the user tower's head adapted per
/// request on the user's support rows).
///
/// ```
/// u        the user tower's output normalize(MLP_u(Enc(history)))                   (d), ‖u‖ = 1
/// S        the last m items of the history (the support set)
/// L_S(u)   = (1/|S|) Σ_{j∈S} −log softmax_i(⟨u, v_i⟩ / τ)_j        over all N items
/// g        = ∇_u L_S = (1/τ) (Σ_i p_i v_i − (1/|S|) Σ_{j∈S} v_j)   p = softmax(V u / τ)
/// u ← normalize(u − η (g − ⟨g, u⟩ u))      k times: a step along the sphere, then back onto it
/// ```
/// Adapting the last layer `W_2` of the user MLP for one history moves the raw output along a
/// single direction per step (`∂r/∂W_2` is rank one), so a step on `u` is a step on the head
/// with a per-user rate; on the sphere `η` does not depend on the raw output's scale. Users
/// with an empty history are left alone. Batched: each step is two `(B, N, d)` GEMMs.
public struct UserAdaptation: Sendable, Equatable {
    /// `k`, gradient steps (0: no adaptation).
    public var steps: Int
    /// `η`.
    public var rate: Float
    /// `m`, the most recent history items the loss is taken over.
    public var supportSize: Int

    /// The ranges every setting is checked against (a model file or a flag alike): the cost of a
    /// request is `O(k·N·d)` and the step must stay finite.
    public static let stepRange = 0...100, rateRange: ClosedRange<Float> = Float.leastNonzeroMagnitude...10, supportRange = 1...1_000

    /// - Throws: ``RetrievalError/invalidSetting(_:)`` for a value outside ``stepRange``,
    ///   ``rateRange`` (checked even with 0 steps) or ``supportRange``.
    public init(steps: Int, rate: Float, supportSize: Int) throws(RetrievalError) {
        guard Self.stepRange.contains(steps) else { throw .invalidSetting("adaptation steps must be in 0...100, got \(steps)") }
        guard Self.rateRange.contains(rate) else { throw .invalidSetting("adaptation rate must be in (0, 10], got \(rate)") }
        guard Self.supportRange.contains(supportSize) else {
            throw .invalidSetting("adaptation support size must be in 1...1000, got \(supportSize)")
        }
        (self.steps, self.rate, self.supportSize) = (steps, rate, supportSize)
    }

    /// The scratch of ``adapt(_:histories:items:temperature:workspace:)``, kept between calls
    /// (the `(B, N)` logits and probabilities; nothing is allocated once it has grown).
    public struct Workspace: Sendable {
        var logits = Tensor(shape: [0, 0]), probabilities = Tensor(shape: [0, 0])
        var gradient = Tensor(shape: [0, 0]), stepped = Tensor(shape: [0, 0]), norms: [Float] = []

        public init() {}
    }

    /// Adapts the unit user embeddings `users` `(B, d)` of `histories` in place.
    /// - Parameters:
    ///   - histories: each user's history, oldest first (the support is its last `m` items).
    ///   - items: `V` `(N, d)`, the catalogue's (normalised) item embeddings.
    ///   - temperature: `τ` of the model.
    public func adapt<H: Collection>(
        _ users: inout Tensor, histories: [H], items: Tensor, temperature: Float, workspace ws: inout Workspace
    ) where H.Element == Int32 {
        let (count, d) = users.matrixShape("UserAdaptation.adapt", "users")
        precondition(histories.count == count && items.shape.count == 2 && items.shape[1] == d,
                     "UserAdaptation.adapt: users \(users.shape), \(histories.count) histories, items \(items.shape)")
        ws.logits.resize(rows: count, columns: items.shape[0])
        ws.probabilities.resize(rows: count, columns: items.shape[0])
        ws.gradient.resize(rows: count, columns: d)
        let supports = histories.map { $0.suffix(supportSize) }
        for _ in 0..<steps {
            GEMM.multiply(users, transposed: false, items, transposed: true, into: &ws.logits, alpha: 1 / temperature)
            Softmax.forward(ws.logits, into: &ws.probabilities)
            GEMM.multiply(ws.probabilities, items, into: &ws.gradient)
            Self.subtractSupportMean(supports, items: items, from: &ws.gradient)
            Borrow.update(&users) { u in
                Borrow.read(ws.gradient) { g in
                    for b in 0..<count where !supports[b].isEmpty {
                        let row = b * d
                        var radial: Float = 0
                        for j in 0..<d { radial += g[row + j] * u[row + j] }
                        let step = rate / temperature
                        for j in 0..<d { u[row + j] -= step * (g[row + j] - radial * u[row + j]) }
                    }
                }
            }
            RowNormalize.forward(users, output: &ws.stepped, norms: &ws.norms)
            swap(&users, &ws.stepped)
        }
    }

    /// `gradient[b] −= (1/|S_b|) Σ_{j∈S_b} v_j`, making it `τ·g` (rows with an empty support are set to 0).
    static func subtractSupportMean<S: Collection>(_ supports: [S], items: Tensor, from gradient: inout Tensor) where S.Element == Int32 {
        let d = items.shape[1], n = items.shape[0]
        Borrow.update(&gradient) { g in
            Borrow.read(items) { v in
                for (b, support) in supports.enumerated() {
                    guard !support.isEmpty else { (g + b * d).update(repeating: 0, count: d); continue }
                    let share = 1 / Float(support.count)
                    for item in support {
                        precondition(item >= 0 && Int(item) < n, "UserAdaptation: item \(item) outside the catalogue's \(n)")
                        for j in 0..<d { g[b * d + j] -= share * v[Int(item) * d + j] }
                    }
                }
            }
        }
    }
}
