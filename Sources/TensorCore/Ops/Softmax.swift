import CKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Row-wise softmax over the last dimension (the MMoE gates: one distribution over the `E`
/// experts per row):
///
/// ```
/// p[b, e] = exp(z[b, e] − m_b) / Σ_j exp(z[b, j] − m_b)      m_b = max_j z[b, j]
/// z, p: (B, E)
/// ```
///
/// Subtracting the row maximum keeps every exponent ≤ 0, so nothing overflows and the largest
/// term is exactly 1 (the denominator is ≥ 1).
public enum Softmax {
    /// Row-wise softmax in place of a `(rows, width)` block read through a row stride (the gate
    /// columns of the inference bottom's packed output): ``mr_softmax_rows_at_level``. AVX-512: four rows per
    /// vector for `width == 4` (four experts), one masked vector per row for other `width ≤ 16`
    /// (within a few ulp of ``forward(_:into:)``); otherwise the scalar loop.
    public static func forwardInPlace(
        _ z: UnsafeMutablePointer<Float>, rows: Int, width: Int, stride: Int, level: SIMDLevel = .inUse
    ) {
        precondition(rows >= 0 && width >= 1 && stride >= width, "Softmax.forwardInPlace: rows \(rows), width \(width), stride \(stride)")
        precondition(level <= .cpu, "Softmax: this CPU cannot run the \(level) kernel")
        mr_softmax_rows_at_level(Int32(level.rawValue), z, rows, width, stride)
    }

    /// `probabilities = softmax(logits)` row-wise, overwriting `probabilities`, which must
    /// have the shape of `logits` (any rank; rows are the last dimension).
    public static func forward(_ logits: Tensor, into probabilities: inout Tensor) {
        precondition(
            probabilities.shape == logits.shape,
            "Softmax.forward: logits \(logits.shape) vs probabilities \(probabilities.shape)")
        let n = logits.shape[logits.rank - 1]
        if n == 0 { return }
        let rows = logits.count / n
        logits.withUnsafeBufferPointer { z in
            probabilities.withUnsafeMutableBufferPointer { p in
                for r in 0..<rows {
                    let base = r * n
                    var m = z[base]
                    for j in 1..<n { m = max(m, z[base + j]) }
                    var sum: Float = 0
                    for j in 0..<n {
                        let e = expf(z[base + j] - m)
                        p[base + j] = e
                        sum += e
                    }
                    let inverse = 1 / sum
                    for j in 0..<n { p[base + j] *= inverse }
                }
            }
        }
    }

    /// Accumulates the logit gradient from the forward output (the softmax Jacobian
    /// `diag(p) − p·pᵀ` applied row by row):
    ///
    /// ```
    /// dLogits[b, :] += p[b, :] ⊙ (dP[b, :] − Σ_j p[b, j]·dP[b, j])
    /// ```
    public static func backward(output probabilities: Tensor, dOutput: Tensor, dInput: inout Tensor) {
        precondition(
            dOutput.shape == probabilities.shape && dInput.shape == probabilities.shape,
            "Softmax.backward: probabilities \(probabilities.shape), dOutput \(dOutput.shape), dInput \(dInput.shape) must match")
        let n = probabilities.shape[probabilities.rank - 1]
        if n == 0 { return }
        let rows = probabilities.count / n
        probabilities.withUnsafeBufferPointer { p in
            dOutput.withUnsafeBufferPointer { dp in
                dInput.withUnsafeMutableBufferPointer { dz in
                    for r in 0..<rows {
                        let base = r * n
                        var dot: Float = 0
                        for j in 0..<n { dot += p[base + j] * dp[base + j] }
                        for j in 0..<n { dz[base + j] += p[base + j] * (dp[base + j] - dot) }
                    }
                }
            }
        }
    }
}
