import CKernels

/// The element-wise work of a tower `H → T → 1` around its two GEMMs, fused into one pass
/// over the hidden matrix each way (the fused inner loop and scoring of the serving path):
///
/// ```
/// forward:   a = act(z + b1)       z = x·W1 on entry, (rows, T), row stride lda
///            logit_i = b2 + Σ_j a_ij · w2_j
/// backward:  dw2_j += Σ_i a_ij · d_i               d_i = ∂L/∂logit_i
///            a_ij  ← d_i · w2_j · act'(a_ij)       (now ∂L/∂z_ij; act' from the output)
///            db1_j += Σ_i a_ij
/// ```
/// AVX2/FMA eight columns at a time when the CPU has it, plain loops otherwise
/// (``Backend/portable``, also the tests' reference).
public enum TowerHead {
    /// The hidden activation: `max(x, 0)` or `tanh(x)`.
    public enum Activation: Sendable {
        case relu, tanh

        var code: Int32 { self == .relu ? MR_TOWER_RELU : MR_TOWER_TANH }
    }

    /// Which implementation runs.
    public enum Backend: Sendable { case automatic, portable }

    /// Adds the bias `b1` to `a`, activates it in place and writes `logits` `(rows)`.
    ///
    /// - Parameters:
    ///   - a: `(rows, width)` with row stride `lda ≥ width`, `x·W1` on entry.
    ///   - b1, w2: `(width)`.
    /// - Complexity: `2·rows·width` flops, allocation-free.
    public static func forward(
        _ a: UnsafeMutablePointer<Float>, rows: Int, width: Int, lda: Int, activation: Activation,
        b1: UnsafePointer<Float>, w2: UnsafePointer<Float>, b2: Float, logits: UnsafeMutablePointer<Float>,
        backend: Backend = .automatic
    ) {
        precondition(rows >= 0 && width >= 0 && lda >= width, "TowerHead.forward: rows \(rows), width \(width), lda \(lda)")
        switch backend {
        case .automatic: mr_tower_head_forward(a, rows, width, lda, activation.code, b1, w2, b2, logits)
        case .portable: mr_tower_head_forward_portable(a, rows, width, lda, activation.code, b1, w2, b2, logits)
        }
    }

    /// Turns the activations `a` into `∂L/∂z` in place and accumulates `dw2`, `db1` `(width)`.
    ///
    /// - Parameters:
    ///   - a: `(rows, width)` activations left by ``forward(_:rows:width:lda:activation:b1:w2:b2:logits:backend:)``.
    ///   - d: `(rows)` `∂L/∂logit`.
    /// - Complexity: `≈ 5·rows·width` flops, allocation-free.
    public static func backward(
        _ a: UnsafeMutablePointer<Float>, rows: Int, width: Int, lda: Int, activation: Activation,
        d: UnsafePointer<Float>, w2: UnsafePointer<Float>, dw2: UnsafeMutablePointer<Float>,
        db1: UnsafeMutablePointer<Float>, backend: Backend = .automatic
    ) {
        precondition(rows >= 0 && width >= 0 && lda >= width, "TowerHead.backward: rows \(rows), width \(width), lda \(lda)")
        switch backend {
        case .automatic: mr_tower_head_backward(a, rows, width, lda, activation.code, d, w2, dw2, db1)
        case .portable: mr_tower_head_backward_portable(a, rows, width, lda, activation.code, d, w2, dw2, db1)
        }
    }
}
