import TensorCore

/// The loss a tower minimises on one task's support rows in the inner loop, as a function of the
/// tower's logits `z` `(S)` and labels `y` `(S)` (NaN = missing, skipped):
///
/// ```
/// pointwise            L = (1/n) Σ_s ℓ(z_s, y_s)                  ℓ: BCE on logits (binary), (z − y)² (regression)
/// pairwise (RankNet)   L = (1/P) Σ_{y_i > y_j} log(1 + e^{−(z_i − z_j)})       P = ordered pairs
/// listwise (ListNet)   L = −Σ_i p_i log softmax(z)_i,   p_i = y_i⁺ / Σ_j y_j⁺   (y⁺ = max(y, 0))
/// blends               L + w · pointwise                          (`pointwiseWeight` w)
/// ```
/// The pairwise and listwise losses are invariant to a per-user offset `z + c`, so a step on them
/// can only change the *order* of that user's rows (Burges et al. 2005; Cao et al. 2007). `n` is
/// the labelled count of the set itself ("num" normalisation), so an adapted tower never depends
/// on what it is batched with.
public enum InnerLoss: Sendable, Equatable, Hashable {
    /// The task's own loss (BCE or squared error).
    case pointwise
    /// RankNet / BPR over every pair of labelled rows with different labels, plus `pointwiseWeight` × pointwise.
    case pairwise(pointwiseWeight: Float)
    /// ListNet softmax cross-entropy against the normalised labels, plus `pointwiseWeight` × pointwise.
    case listwise(pointwiseWeight: Float)

    var pointwiseWeight: Float {
        switch self {
        case .pointwise: 1
        case .pairwise(let w), .listwise(let w): w
        }
    }

    /// `d_s = ∂L/∂z_s` into `d` (0 for unlabelled rows) and returns `L` (Double). Every path of
    /// the inner loop (generic MLP, fused two-layer tower, Hessian-vector products, the ridge
    /// head) takes its logit gradient from here, so each rule is written once.
    ///
    /// - Parameters:
    ///   - z: `(rows)` logits, contiguous.
    ///   - y: labels, `y_s = y[s · labelStride]`.
    ///   - normalizer: `n` of the pointwise term (the set's labelled count by default).
    @discardableResult
    public func logitGradient(
        kind: TaskKind, logits z: UnsafePointer<Float>, rows: Int, labels y: UnsafePointer<Float>, labelStride: Int,
        normalizer: Int, into d: UnsafeMutablePointer<Float>
    ) -> Double {
        logitGradient(kind: kind, logits: z, rows: rows, labels: y, labelStride: labelStride, normalizer: normalizer,
                      computesLoss: true, into: d)
    }

    /// ``logitGradient(kind:logits:rows:labels:labelStride:normalizer:into:)``; without `computesLoss`
    /// the loss is not evaluated (0 is returned): the serving and training hot path only steps.
    @discardableResult
    public func logitGradient(
        kind: TaskKind, logits z: UnsafePointer<Float>, rows: Int, labels y: UnsafePointer<Float>, labelStride: Int,
        normalizer: Int, computesLoss: Bool, into d: UnsafeMutablePointer<Float>
    ) -> Double {
        let w = pointwiseWeight
        var total = 0.0
        if w != 0, normalizer > 0 {
            let scale = w / Float(normalizer)
            switch kind {
            case .binary:
                BCEWithLogits.derivatives(logits: z, count: rows, labels: y, labelStride: labelStride, scale: scale, into: d)
            case .regression:
                for s in 0..<rows {
                    let label = y[s * labelStride]
                    d[s] = label.isNaN ? 0 : scale * MSE.derivative(prediction: z[s], label: label)
                }
            }
            if computesLoss { total = Double(scale) * Self.pointwiseLossSum(kind: kind, logits: z, rows: rows, labels: y, labelStride: labelStride) }
        } else {
            d.update(repeating: 0, count: rows)
        }
        switch self {
        case .pointwise: break
        case .pairwise: total += Self.pairwise(logits: z, rows: rows, labels: y, labelStride: labelStride, into: d)
        case .listwise: total += Self.listwise(logits: z, rows: rows, labels: y, labelStride: labelStride, into: d)
        }
        return total
    }

    /// `Σ_s ℓ(z_s, y_s)` over labelled rows, in Double (BCE in its stable form, or squared error).
    static func pointwiseLossSum(kind: TaskKind, logits z: UnsafePointer<Float>, rows: Int, labels y: UnsafePointer<Float>,
                                 labelStride: Int) -> Double {
        var total = 0.0
        for s in 0..<rows {
            let label = y[s * labelStride]
            guard !label.isNaN else { continue }
            let zs = Double(z[s])
            switch kind {
            case .binary: total += max(zs, 0) - zs * Double(label) + log1p(exp(-abs(zs)))
            case .regression: total += (zs - Double(label)) * (zs - Double(label))
            }
        }
        return total
    }

    /// `d += H_z · v`, the Hessian of `L` in the logits times a logit direction `v` `(rows)`:
    /// pointwise `ℓ''(z_s) v_s / n`; pairwise `(1/P) Σ σ'(z_i − z_j)(v_i − v_j)(e_i − e_j)`;
    /// listwise `(diag(q) − q qᵀ) v`, `q = softmax(z)` over labelled rows. Second-order MAML
    /// and the ridge head's Newton step use it.
    public func addLogitHessianVector(
        kind: TaskKind, logits z: UnsafePointer<Float>, rows: Int, labels y: UnsafePointer<Float>, labelStride: Int,
        normalizer: Int, direction v: UnsafePointer<Float>, into d: UnsafeMutablePointer<Float>
    ) {
        let w = pointwiseWeight
        if w != 0, normalizer > 0 {
            let scale = w / Float(normalizer)
            for s in 0..<rows where !y[s * labelStride].isNaN {
                let second = kind == .binary ? BCEWithLogits.secondDerivative(logit: z[s]) : MSE.secondDerivative()
                d[s] += scale * second * v[s]
            }
        }
        switch self {
        case .pointwise: break
        case .pairwise:
            let pairs = Self.pairCount(rows: rows, labels: y, labelStride: labelStride)
            guard pairs > 0 else { return }
            let scale = 1 / Float(pairs)
            Self.forEachPair(rows: rows, labels: y, labelStride: labelStride) { i, j in
                let sigma = Sigmoid.value(z[i] - z[j])
                let c = scale * sigma * (1 - sigma) * (v[i] - v[j])
                d[i] += c
                d[j] -= c
            }
        case .listwise:
            let (q, labelled) = Self.softmax(z, rows: rows, labels: y, labelStride: labelStride)
            guard labelled > 0, Self.targetMass(rows: rows, labels: y, labelStride: labelStride) > 0 else { return }
            var qv: Float = 0
            for s in 0..<rows where !y[s * labelStride].isNaN { qv += q[s] * v[s] }
            for s in 0..<rows where !y[s * labelStride].isNaN { d[s] += q[s] * (v[s] - qv) }
        }
    }

    // MARK: - Ranking terms

    /// Calls `body(i, j)` for every ordered pair of labelled rows with `y_i > y_j`.
    @inline(__always)
    static func forEachPair(rows: Int, labels y: UnsafePointer<Float>, labelStride: Int, _ body: (Int, Int) -> Void) {
        for i in 0..<rows {
            let yi = y[i * labelStride]
            guard !yi.isNaN else { continue }
            for j in 0..<rows {
                let yj = y[j * labelStride]
                if !yj.isNaN, yi > yj { body(i, j) }
            }
        }
    }

    static func pairCount(rows: Int, labels y: UnsafePointer<Float>, labelStride: Int) -> Int {
        var p = 0
        forEachPair(rows: rows, labels: y, labelStride: labelStride) { _, _ in p += 1 }
        return p
    }

    /// RankNet term: adds `∂/∂z` into `d`, returns the loss.
    private static func pairwise(
        logits z: UnsafePointer<Float>, rows: Int, labels y: UnsafePointer<Float>, labelStride: Int,
        into d: UnsafeMutablePointer<Float>
    ) -> Double {
        let pairs = pairCount(rows: rows, labels: y, labelStride: labelStride)
        guard pairs > 0 else { return 0 }
        let scale = 1 / Float(pairs)
        var total = 0.0
        forEachPair(rows: rows, labels: y, labelStride: labelStride) { i, j in
            let margin = z[i] - z[j]
            // ∂/∂margin of log(1 + e^{−m}) = σ(m) − 1 = −σ(−m).
            let g = scale * (Sigmoid.value(margin) - 1)
            d[i] += g
            d[j] -= g
            let m = Double(margin)
            total += Double(scale) * (max(-m, 0) + log1p(exp(-abs(m))))
        }
        return total
    }

    /// `softmax(z)` over labelled rows (0 elsewhere) and the labelled count. The buffer is small
    /// (one task's support set) and only the listwise loss uses it.
    private static func softmax(_ z: UnsafePointer<Float>, rows: Int, labels y: UnsafePointer<Float>, labelStride: Int) -> ([Float], Int) {
        var q = [Float](repeating: 0, count: rows)
        var top = -Float.infinity, labelled = 0
        for s in 0..<rows where !y[s * labelStride].isNaN { top = max(top, z[s]); labelled += 1 }
        guard labelled > 0 else { return (q, 0) }
        var sum: Float = 0
        for s in 0..<rows where !y[s * labelStride].isNaN { q[s] = expf(z[s] - top); sum += q[s] }
        for s in 0..<rows { q[s] /= sum }
        return (q, labelled)
    }

    private static func targetMass(rows: Int, labels y: UnsafePointer<Float>, labelStride: Int) -> Float {
        var mass: Float = 0
        for s in 0..<rows where !y[s * labelStride].isNaN { mass += max(y[s * labelStride], 0) }
        return mass
    }

    /// ListNet term: adds `q − p` into `d`, returns the loss.
    private static func listwise(
        logits z: UnsafePointer<Float>, rows: Int, labels y: UnsafePointer<Float>, labelStride: Int,
        into d: UnsafeMutablePointer<Float>
    ) -> Double {
        let mass = targetMass(rows: rows, labels: y, labelStride: labelStride)
        let (q, labelled) = softmax(z, rows: rows, labels: y, labelStride: labelStride)
        guard labelled > 0, mass > 0 else { return 0 }
        var total = 0.0
        for s in 0..<rows where !y[s * labelStride].isNaN {
            let p = max(y[s * labelStride], 0) / mass
            d[s] += q[s] - p
            if p > 0 { total -= Double(p) * log(Double(max(q[s], .leastNormalMagnitude))) }
        }
        return total
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
