import Foundation
import TensorCore

/// Scratch of ``SampledSoftmax``: the softmax over each row's candidates, kept for backward.
public struct SampledSoftmaxWorkspace: Sendable {
    /// `(B, B + M)`: after forward the probabilities `p`, after backward `scale/τ · (p − 1[j = b])`.
    var probabilities = Tensor(shape: [0, 0])
    public init() {}
}

/// Softmax cross-entropy of each user against its own item among in-batch and queued negatives,
/// with the logQ correction and accidental hits masked.
///
/// ```
/// candidates c_j = v_j (j < B, this batch's items)  |  q_{j−B} (j ≥ B, the queue's M entries)
/// s[b, j]  = ⟨u_b, c_j⟩ / τ − log Q_j          logQ correction: SUBTRACT the log of the candidate's
///                                               sampling probability (Yi et al. RecSys 2019), on
///                                               every column, the positive's included
/// masked   s[b, j] = −∞ when id(c_j) = id(v_b) and j ≠ b (an accidental hit: the positive item
///                    appearing again as a "negative", from a duplicate in the batch or the queue)
/// loss     Σ_b −log softmax(s[b, :])_b          (a sum; callers scale by 1/B)
/// u, v (B, d)   queue (M, d)   logQ (B + M) or none
/// ```
/// Popular items are frequent in-batch negatives; without the correction their scores are pushed
/// down in proportion to their frequency. The queue entries are constants (no gradient).
public enum SampledSoftmax {
    /// The loss `Σ_b −log p_bb` in Double; keeps the probabilities in `workspace`.
    /// - Parameters:
    ///   - logQ: `log Q_j` for the `B` batch items then the queue's `count` entries, or `nil` for no correction.
    public static func forward(
        users u: Tensor, items v: Tensor, itemIDs: [Int32], queue: NegativeQueue, logQ: [Float]?,
        temperature: Float, workspace ws: inout SampledSoftmaxWorkspace
    ) -> Double {
        let (b, d) = u.matrixShape("SampledSoftmax.forward", "users")
        let m = queue.count, width = b + m
        precondition(v.shape == [b, d] && itemIDs.count == b && queue.embeddings.shape[1] == d,
                     "SampledSoftmax: users \(u.shape), items \(v.shape), \(itemIDs.count) ids, queue \(queue.embeddings.shape)")
        precondition(logQ == nil || logQ!.count == width, "SampledSoftmax: logQ has \(logQ?.count ?? 0) values for \(width) candidates")
        precondition(temperature > 0, "SampledSoftmax: temperature \(temperature)")
        ws.probabilities.resize(rows: b, columns: width)
        Borrow.update(&ws.probabilities) { s in
            Borrow.read(u, v, queue.embeddings) { up, vp, qp in
                let alpha = 1 / temperature
                GEMM.compute(m: b, n: b, k: d, a: up, lda: d, b: vp, ldb: d, transposeB: true, c: s, ldc: width, alpha: alpha)
                if m > 0 {
                    GEMM.compute(m: b, n: m, k: d, a: up, lda: d, b: qp, ldb: d, transposeB: true, c: s + b, ldc: width, alpha: alpha)
                }
            }
        }
        var loss = 0.0
        Borrow.update(&ws.probabilities) { s in
            for row in 0..<b {
                loss += softmaxRow(s + row * width, row: row, batch: b, itemIDs: itemIDs, queueIDs: queue.ids, logQ: logQ, width: width)
            }
        }
        return loss
    }

    /// Corrects, masks and normalises one row of logits in place; returns `−log p_row,row`.
    private static func softmaxRow(
        _ s: UnsafeMutablePointer<Float>, row: Int, batch b: Int, itemIDs: [Int32], queueIDs: [Int32], logQ: [Float]?, width: Int
    ) -> Double {
        let positive = itemIDs[row]
        var peak = -Float.infinity
        for j in 0..<width {
            let id = j < b ? itemIDs[j] : queueIDs[j - b]
            if j != row && id == positive {
                s[j] = -.infinity
                continue
            }
            if let logQ { s[j] -= logQ[j] }
            peak = max(peak, s[j])
        }
        var total = 0.0
        for j in 0..<width {
            let e = s[j] == -.infinity ? 0 : expf(s[j] - peak)
            s[j] = e
            total += Double(e)
        }
        let positiveTerm = Double(s[row])
        let inverse = Float(1 / total)
        for j in 0..<width { s[j] *= inverse }
        return log(total) - log(positiveTerm)
    }

    /// Accumulates `scale · ∂loss` into `dUsers` `(B, d)` and `dItems` `(B, d)` (the queue is constant):
    ///
    /// ```
    /// G = scale/τ · (P − I)        (B, B + M), I on the positives' columns
    /// dU += G[:, :B] · V + G[:, B:] · Q        dV += G[:, :B]ᵀ · U
    /// ```
    /// Consumes the workspace's probabilities (run forward again before another backward).
    public static func backward(
        users u: Tensor, items v: Tensor, queue: NegativeQueue, temperature: Float, scale: Float,
        workspace ws: inout SampledSoftmaxWorkspace, dUsers: inout Tensor, dItems: inout Tensor
    ) {
        let (b, d) = u.matrixShape("SampledSoftmax.backward", "users")
        let m = queue.count, width = b + m
        precondition(ws.probabilities.shape == [b, width], "SampledSoftmax.backward: run forward on this batch first")
        precondition(dUsers.shape == [b, d] && dItems.shape == [b, d],
                     "SampledSoftmax.backward: dUsers \(dUsers.shape), dItems \(dItems.shape), expected [\(b), \(d)]")
        let factor = scale / temperature
        Borrow.update(&ws.probabilities) { g in
            for row in 0..<b {
                g[row * width + row] -= 1
                for j in 0..<width { g[row * width + j] *= factor }
            }
        }
        Borrow.update(&dUsers, &dItems) { du, dv in
            Borrow.read(ws.probabilities, u, v, queue.embeddings) { g, up, vp, qp in
                GEMM.compute(m: b, n: d, k: b, a: g, lda: width, b: vp, ldb: d, c: du, ldc: d, beta: 1)
                if m > 0 { GEMM.compute(m: b, n: d, k: m, a: g + b, lda: width, b: qp, ldb: d, c: du, ldc: d, beta: 1) }
                GEMM.compute(m: b, n: d, k: b, a: g, lda: width, transposeA: true, b: up, ldb: d, c: dv, ldc: d, beta: 1)
            }
        }
    }
}
