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
/// Runs at ``SIMDLevel/inUse`` by default: AVX-512 sixteen columns at a time, AVX2/FMA eight,
/// or plain loops (``SIMDLevel/portable``, also the tests' reference).
public enum TowerHead {
    /// The hidden activation: `max(x, 0)` or `tanh(x)`.
    public enum Activation: Sendable {
        case relu, tanh

        var code: Int32 { self == .relu ? MR_TOWER_RELU : MR_TOWER_TANH }
    }

    /// Adds the bias `b1` to `a`, activates it in place and writes `logits` `(rows)`.
    ///
    /// - Parameters:
    ///   - a: `(rows, width)` with row stride `lda ≥ width`, `x·W1` on entry.
    ///   - b1, w2: `(width)`.
    /// - Complexity: `2·rows·width` flops, allocation-free.
    public static func forward(
        _ a: UnsafeMutablePointer<Float>, rows: Int, width: Int, lda: Int, activation: Activation,
        b1: UnsafePointer<Float>, w2: UnsafePointer<Float>, b2: Float, logits: UnsafeMutablePointer<Float>,
        level: SIMDLevel = .inUse
    ) {
        precondition(rows >= 0 && width >= 0 && lda >= width, "TowerHead.forward: rows \(rows), width \(width), lda \(lda)")
        precondition(level <= .cpu, "TowerHead: this CPU cannot run the \(level) kernel")
        mr_tower_head_forward_at_level(Int32(level.rawValue), a, rows, width, lda, activation.code, b1, w2, b2, logits)
    }

    /// Turns the activations `a` into `∂L/∂z` in place and accumulates `dw2`, `db1` `(width)`.
    ///
    /// - Parameters:
    ///   - a: `(rows, width)` activations left by ``forward(_:rows:width:lda:activation:b1:w2:b2:logits:level:)``.
    ///   - d: `(rows)` `∂L/∂logit`.
    /// - Complexity: `≈ 5·rows·width` flops, allocation-free.
    public static func backward(
        _ a: UnsafeMutablePointer<Float>, rows: Int, width: Int, lda: Int, activation: Activation,
        d: UnsafePointer<Float>, w2: UnsafePointer<Float>, dw2: UnsafeMutablePointer<Float>,
        db1: UnsafeMutablePointer<Float>, level: SIMDLevel = .inUse
    ) {
        precondition(rows >= 0 && width >= 0 && lda >= width, "TowerHead.backward: rows \(rows), width \(width), lda \(lda)")
        precondition(level <= .cpu, "TowerHead: this CPU cannot run the \(level) kernel")
        mr_tower_head_backward_at_level(Int32(level.rawValue), a, rows, width, lda, activation.code, d, w2, dw2, db1)
    }

    /// The whole forward pass of the tower, the multiply included:
    ///
    /// ```
    /// hidden = act(x·W1 + b1)      x: (rows, k), row stride ldx    W1: (k, width), contiguous
    /// logit_i = b2 + Σ_j hidden_ij · w2_j
    /// ```
    /// With AVX-512, ReLU, `width ≤ 64` and `k ≤ 256`, one kernel takes each 6-row tile from the
    /// multiply to its logits in registers (the hidden matrix is written only when `keepHidden`,
    /// for a backward pass). Otherwise the multiply goes through ``GEMM`` with the backend
    /// ``GEMM/resolvedBackend(m:n:k:transposeA:transposeB:level:)`` picks for `level`, into `hidden`,
    /// then ``forward(_:rows:width:lda:activation:b1:w2:b2:logits:level:)``.
    ///
    /// - Parameters:
    ///   - hidden: `(rows, width)` with row stride `ldh ≥ width`; unspecified afterwards unless `keepHidden`.
    /// - Complexity: `2·rows·k·width + 3·rows·width` flops, allocation-free after the calling
    ///   thread's first GEMM.
    public static func forward(
        x: UnsafePointer<Float>, rows: Int, k: Int, ldx: Int, w1: UnsafePointer<Float>, width: Int,
        b1: UnsafePointer<Float>, w2: UnsafePointer<Float>, b2: Float, activation: Activation,
        hidden: UnsafeMutablePointer<Float>, ldh: Int, keepHidden: Bool, logits: UnsafeMutablePointer<Float>,
        level: SIMDLevel = .inUse
    ) {
        precondition(rows >= 0 && k >= 1 && width >= 1 && ldx >= k && ldh >= width,
                     "TowerHead.forward: rows \(rows), k \(k), width \(width), ldx \(ldx), ldh \(ldh)")
        precondition(level <= .cpu, "TowerHead: this CPU cannot run the \(level) kernel")
        let fused = mr_tower_forward_fused_at_level(
            Int32(level.rawValue), x, rows, k, ldx, w1, width, b1, w2, b2, activation.code, hidden, ldh,
            keepHidden ? 1 : 0, logits)
        guard fused == 0, rows > 0 else { return }
        if GEMM.resolvedBackend(m: rows, n: width, k: k, transposeA: false, transposeB: false, level: level) == .microKernel {
            GEMM.compute(at: level, m: rows, n: width, k: k, a: x, lda: ldx, transposeA: false, b: w1, ldb: width,
                         transposeB: false, c: hidden, ldc: ldh, alpha: 1, beta: 0)
        } else {
            GEMM.compute(m: rows, n: width, k: k, a: x, lda: ldx, b: w1, ldb: width, c: hidden, ldc: ldh,
                         beta: 0, backend: .openBLAS)
        }
        forward(hidden, rows: rows, width: width, lda: ldh, activation: activation, b1: b1, w2: w2, b2: b2,
                logits: logits, level: level)
    }
}
