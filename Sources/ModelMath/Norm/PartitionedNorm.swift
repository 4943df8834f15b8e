import TensorCore

/// Forward and backward of partitioned normalisation (``PartitionedNormalization``) over rows of
/// mixed scenes: each row is normalised with its own scene's statistics and affine.
///
/// ```
/// forward:   x̂_b = (f_b − μ_g) ⊙ r_g,  r_g = 1/sqrt(σ²_g + ε)       g = scene(b), or S (pooled) if unknown
///            f'_b = a_g ⊙ x̂_b + c_g,   a_g = γ ⊙ γ_g,  c_g = β + β_g   (a_S = γ, c_S = β)
/// backward:  dβ += Σ_b dy_b   dβ_g += Σ_{b∈g} dy_b   dγ += Σ_b dy_b ⊙ x̂_b ⊙ γ_g   dγ_g += Σ_{b∈g} dy_b ⊙ x̂_b ⊙ γ
///            dx̂_b = dy_b ⊙ a_g;   df_b += r_g ⊙ dx̂_b
///            batch statistics over rows R_g (n = |R_g|), output rows O_g:
///            df_j += −(r_g / n) ⊙ (Σ_{O_g} dx̂ + x̂_j^(g) ⊙ Σ_{O_g} dx̂ ⊙ x̂)       j ∈ R_g
/// ```
/// For a scene `R_g = O_g` (its rows); for the pooled group `R_S` is every row and `O_S` the
/// unknown-scene rows, so those rows' gradient reaches every row's `f`.
public enum PartitionedNorm {
    /// Normalises `input` `(B, H)` into `output` `(B, H)`; `rowScenes` `(B)` is each row's scene
    /// (−1: unknown). With `.batch` statistics also fills `ws.sums` for the running update; a
    /// group with fewer than `minimumRows` (≥ 2) rows uses its running statistics.
    public static func forward(
        _ p: PartitionedNormParameters, rowScenes: [Int32], input: Tensor, statistics: NormStatistics, epsilon: Float,
        minimumRows: Int = 2, workspace ws: inout PartitionedNormWorkspace, output: inout Tensor
    ) {
        let b = input.rows, h = input.columns, s = p.sceneCount, groups = s + 1
        precondition(h == p.width && rowScenes.count == b, "PartitionedNorm: input \(input.shape), H = \(p.width), \(rowScenes.count) scenes")
        output.resize(rows: b, columns: h)
        ws.normalized.resize(rows: b, columns: h)
        ws.mean.resize(rows: groups, columns: h)
        ws.inverseStd.resize(rows: groups, columns: h)
        ws.sums.reset(groups: groups, width: h)
        ws.usesBatch.removeAll(keepingCapacity: true)
        ws.statisticRows.removeAll(keepingCapacity: true)
        func group(_ r: Int) -> Int { rowScenes[r] >= 0 ? Int(rowScenes[r]) : s }
        Borrow.read(input) { x in
            for r in 0..<b {
                let g = group(r)
                precondition(g <= s, "PartitionedNorm: row \(r) of scene \(rowScenes[r]), S = \(s)")
                ws.sums.counts[g] += 1
                for j in 0..<h {
                    let v = Double(x[r * h + j])
                    ws.sums.sum[g * h + j] += v
                    ws.sums.sumOfSquares[g * h + j] += v * v
                }
            }
        }
        let unknown = ws.sums.counts[s]
        for g in 0..<groups {
            let n = g < s ? ws.sums.counts[g] : b
            let rowsOut = g < s ? n : unknown
            // Fewer than 2 rows have no variance (a few, a noisy one): such a group (and every group at inference)
            // uses the running statistics as constants.
            let batch = statistics == .batch && n >= max(minimumRows, 2) && rowsOut > 0
            ws.usesBatch.append(batch)
            ws.statisticRows.append(n)
            for j in 0..<h {
                var mean = Double(p.runningMean[g, j]), variance = Double(p.runningVariance[g, j])
                if batch {
                    var total = 0.0, squares = 0.0
                    for q in (g < s ? g...g : 0...s) {
                        total += ws.sums.sum[q * h + j]
                        squares += ws.sums.sumOfSquares[q * h + j]
                    }
                    mean = total / Double(n)
                    variance = max(squares / Double(n) - mean * mean, 0)
                }
                ws.mean[g, j] = Float(mean)
                ws.inverseStd[g, j] = Float(1 / (variance + Double(epsilon)).squareRoot())
            }
        }
        if statistics == .running { ws.sums.reset(groups: 0, width: h) }
        Borrow.read(input, ws.mean, ws.inverseStd) { x, mu, rs in
            Borrow.read(p.gamma, p.beta, p.sceneGamma, p.sceneBeta) { gamma, beta, sg, sb in
                Borrow.update(&output, &ws.normalized) { y, xh in
                    for r in 0..<b {
                        let g = group(r)
                        for j in 0..<h {
                            let n = (x[r * h + j] - mu[g * h + j]) * rs[g * h + j]
                            xh[r * h + j] = n
                            let a = g < s ? gamma[j] * sg[g * h + j] : gamma[j]
                            let c = g < s ? beta[j] + sb[g * h + j] : beta[j]
                            y[r * h + j] = a * n + c
                        }
                    }
                }
            }
        }
    }

    /// Backward of the last ``forward(_:rowScenes:input:statistics:epsilon:workspace:output:)`` from
    /// `dOutput` `(B, H)`: accumulates `dγ, dβ, dγ_s, dβ_s` into `gradients` (its statistics are
    /// left alone) and `∂L/∂f` into `dInput` `(B, H)`.
    public static func backward(
        _ p: PartitionedNormParameters, rowScenes: [Int32], input: Tensor, workspace ws: inout PartitionedNormWorkspace,
        dOutput: Tensor, gradients: inout PartitionedNormParameters, dInput: inout Tensor
    ) {
        let b = input.rows, h = input.columns, s = p.sceneCount, groups = s + 1
        precondition(dOutput.shape == input.shape && dInput.shape == input.shape && ws.normalized.shape == input.shape,
                     "PartitionedNorm.backward: input \(input.shape), dOutput \(dOutput.shape), dInput \(dInput.shape)")
        func group(_ r: Int) -> Int { rowScenes[r] >= 0 ? Int(rowScenes[r]) : s }
        ws.sumDelta.removeAll(keepingCapacity: true)
        ws.sumDelta.append(contentsOf: repeatElement(0, count: groups * h))
        ws.sumDeltaNormalized.removeAll(keepingCapacity: true)
        ws.sumDeltaNormalized.append(contentsOf: repeatElement(0, count: groups * h))
        let usesBatch = ws.usesBatch, rowsOf = ws.statisticRows
        Borrow.read(dOutput, ws.normalized, ws.inverseStd) { dy, xh, rs in
            Borrow.read(p.gamma, p.sceneGamma) { gamma, sg in
                for r in 0..<b {
                    let g = group(r)
                    for j in 0..<h {
                        let d = dy[r * h + j], n = xh[r * h + j]
                        gradients.beta[j] += d
                        if g < s {
                            gradients.gamma[j] += d * n * sg[g * h + j]
                            gradients.sceneBeta[g, j] += d
                            gradients.sceneGamma[g, j] += d * n * gamma[j]
                        } else {
                            gradients.gamma[j] += d * n
                        }
                        let dn = d * (g < s ? gamma[j] * sg[g * h + j] : gamma[j])
                        dInput[r, j] += dn * rs[g * h + j]
                        if usesBatch[g] {
                            ws.sumDelta[g * h + j] += Double(dn)
                            ws.sumDeltaNormalized[g * h + j] += Double(dn * n)
                        }
                    }
                }
            }
        }
        // Through the batch statistics: a scene's own rows, and every row for the pooled group.
        Borrow.read(input, ws.normalized, ws.mean, ws.inverseStd) { x, xh, mu, rs in
            for r in 0..<b {
                let g = group(r)
                for j in 0..<h {
                    var d = 0.0
                    if g < s && usesBatch[g] {
                        d -= Double(rs[g * h + j]) / Double(rowsOf[g])
                            * (ws.sumDelta[g * h + j] + Double(xh[r * h + j]) * ws.sumDeltaNormalized[g * h + j])
                    }
                    if usesBatch[s] {
                        let pooled = Double((x[r * h + j] - mu[s * h + j]) * rs[s * h + j])
                        d -= Double(rs[s * h + j]) / Double(rowsOf[s])
                            * (ws.sumDelta[s * h + j] + pooled * ws.sumDeltaNormalized[s * h + j])
                    }
                    if d != 0 { dInput[r, j] += Float(d) }
                }
            }
        }
    }

    /// The inference form in place: `values[b] = scale[g] ⊙ values[b] + shift[g]`, `g = scene(b)`
    /// (unknown: `S`), with ``PartitionedNormParameters/inferenceAffine(epsilon:)``'s `(S + 1, H)`
    /// tables. Allocates nothing.
    public static func applyAffine(scale: Tensor, shift: Tensor, rowScenes: [Int32], values: inout Tensor) {
        let b = values.rows, h = values.columns, s = scale.rows - 1
        precondition(scale.columns == h && shift.shape == scale.shape && rowScenes.count >= b,
                     "PartitionedNorm.applyAffine: values \(values.shape), scale \(scale.shape), \(rowScenes.count) scenes")
        Borrow.read(scale, shift) { a, c in
            Borrow.update(&values) { v in
                for r in 0..<b {
                    let g = rowScenes[r] >= 0 ? Int(rowScenes[r]) : s
                    for j in 0..<h { v[r * h + j] = a[g * h + j] * v[r * h + j] + c[g * h + j] }
                }
            }
        }
    }
}
