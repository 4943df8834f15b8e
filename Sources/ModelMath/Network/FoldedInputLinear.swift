import TensorCore

/// How ``MultiTaskNetwork`` evaluates the bottom's first layers (every expert's first layer and
/// every gate), which read the input `x`. Either way the results agree to float rounding.
public enum FirstLayerEvaluation: Sendable, Equatable {
    /// Folded when the cost model below says it is cheaper, dense otherwise.
    case automatic
    /// `x` is written and each first layer is a GEMM on it.
    case dense
    /// ``FoldedInputLinear`` (falls back to dense when there is no categorical feature).
    case folded

    /// Decides for the batch just pulled (indexing its units when folding is possible).
    ///
    /// Cost model per first layer of `n` outputs: dense `2·B·Fc·d·n` flops; folded `2·U·d·n`
    /// flops plus `B·Fc·n` additions, which run slower than the GEMM's fused multiply-adds, so
    /// each counts as 8 flops: folded when `2·U·d + 8·B·Fc ≤ 2·B·Fc·d`. With d = 8 that is a
    /// batch whose values repeat on average at least twice (`U ≤ B·Fc/2`); never for d ≤ 4.
    func folds(rows b: Int, layout: InputLayout, input: inout InputWorkspace) -> Bool {
        let fc = layout.categoricalCount, d = layout.embeddingDimension
        switch self {
        case .dense: return false
        case .folded, .automatic:
            guard fc > 0, b > 0 else { return false }
            if self == .automatic && d <= 4 { return false }
            let units = InputLayer.indexUnits(rows: b, layout: layout, workspace: &input)
            return self == .folded || 2 * units * d + 8 * b * fc <= 2 * b * fc * d
        }
    }
}

/// A linear layer on the input layer's output, `y = x·W + b`, computed without `x`'s
/// embedding columns: ``MultiTaskNetwork``'s first layers (every expert's first layer and every
/// gate; training, evaluation and support building alike, not serving's ``PackedBottom``) when
/// the batch repeats its embedding rows enough to pay (``FirstLayerEvaluation``).
///
/// ```
/// x    = [ e(cat_1) | … | e(cat_Fc) | rest ]                  (B, D)    rest (B, R)
/// x·W  = rest·W_rest + Σ_f e(cat_f)·W_f                        W_f = rows f·d ..< (f+1)·d of W
///      = rest·W_rest + Σ_f P[unit(f, b)]                       P[u] = row(u)·W_{f(u)}     (U, n)
/// ```
/// A *unit* is one distinct embedding row of one categorical feature in the batch
/// (``InputLayer/indexUnits(rows:layout:workspace:)``). Backward, from `dY = ∂L/∂y` `(B, n)`:
///
/// ```
/// S[u]      = Σ_{(f, b): unit(f, b) = u} dY[b]                 (U, n)
/// dW_f     += Σ_{u of f} row(u)ᵀ S[u]       dRow(u) += S[u]·W_fᵀ
/// dW_rest  += restᵀ dY      db += Σ_b dY    dRest += dY·W_restᵀ   (the last only when asked)
/// ```
/// - Complexity: per pass `2·U·d·n` flops and `B·Fc·n` additions where the dense layer takes
///   `2·B·Fc·d·n` flops, plus the rest's `2·B·R·n`: folding saves work when a batch's values
///   repeat (`U` well below `B·Fc`), as categorical features' values do; the ModelMath README
///   has a measured batch.
enum FoldedInputLinear {
    /// `output = x·W + b` `(B, n)`, overwritten; `projection` is scratch.
    static func forward(
        weight: Tensor, bias: Tensor, layout: InputLayout, input: InputWorkspace, rest: Tensor,
        projection: inout Tensor, output: inout Tensor
    ) {
        forward(weight: weight, bias: bias, layout: layout, rows: input.rows, units: input.units, rest: rest,
                projection: &projection, output: &output)
    }

    /// ``forward(weight:bias:layout:input:rest:projection:output:)`` over the rows `units` index
    /// (the batch's, or a scene group's, ``SceneGroups``) of the pulled embedding `rows`.
    static func forward(
        weight: Tensor, bias: Tensor, layout: InputLayout, rows embeddingRows: Tensor, units index: FoldedUnits, rest: Tensor,
        projection: inout Tensor, output: inout Tensor
    ) {
        let (b, n, restColumn, restWidth) = checkShapes(weight: weight, layout: layout, rows: embeddingRows, units: index,
                                                        rest: rest, "forward")
        precondition(bias.shape == [n] && output.shape == [b, n],
                     "FoldedInputLinear.forward: bias \(bias.shape), output \(output.shape) for [\(b), \(n)]")
        let units = index.count, d = layout.embeddingDimension, fc = layout.categoricalCount
        projection.resize(rows: units, columns: n)
        Borrow.update(&output, &projection) { y, p in
            Borrow.read(weight, rest, bias, embeddingRows, index.slots, index.weightRows, index.unitOfValue) {
                w, r, c, rows, slot, row0, unit in
                if restWidth > 0 {
                    GEMM.compute(m: b, n: n, k: restWidth, a: r, lda: restWidth, b: w + restColumn * n, ldb: n,
                                 c: y, ldc: n, beta: 0)
                } else {
                    y.update(repeating: 0, count: b * n)
                }
                FoldedLinear.project(units: units, d: d, n: n, rows: rows, slot: slot, row0: row0, weight: w,
                                     weightStride: n, projection: p, projectionStride: n)
                FoldedLinear.gather(rows: b, fields: fc, n: n, projection: p, projectionStride: n, unit: unit,
                                    bias: c, output: y, outputStride: n)
            }
        }
    }

    /// Backward from `dOutput` `(B, n)`: accumulates `dWeight`, `dBias`, the embedding rows'
    /// gradient `input.dRows`, and `dRest` when `restGradient`; `sums` is scratch.
    static func backward(
        weight: Tensor, layout: InputLayout, input: inout InputWorkspace, rest: Tensor, dOutput: Tensor,
        sums: inout Tensor, dWeight: inout Tensor, dBias: inout Tensor, dRest: inout Tensor, restGradient: Bool
    ) {
        backward(weight: weight, layout: layout, rows: input.rows, units: input.units, rest: rest, dOutput: dOutput,
                 sums: &sums, dWeight: &dWeight, dBias: &dBias, dRows: &input.dRows, dRest: &dRest, restGradient: restGradient)
    }

    /// ``backward(weight:layout:input:rest:dOutput:sums:dWeight:dBias:dRest:restGradient:)`` over
    /// the rows `units` index; `dRows` has the pulled `rows`' shape.
    static func backward(
        weight: Tensor, layout: InputLayout, rows embeddingRows: Tensor, units index: FoldedUnits, rest: Tensor, dOutput: Tensor,
        sums: inout Tensor, dWeight: inout Tensor, dBias: inout Tensor, dRows: inout Tensor, dRest: inout Tensor,
        restGradient: Bool
    ) {
        let (b, n, restColumn, restWidth) = checkShapes(weight: weight, layout: layout, rows: embeddingRows, units: index,
                                                        rest: rest, "backward")
        let units = index.count, d = layout.embeddingDimension
        precondition(dOutput.shape == [b, n] && dWeight.shape == weight.shape && dBias.shape == [n]
                     && dRows.shape == embeddingRows.shape && (!restGradient || dRest.shape == rest.shape),
                     "FoldedInputLinear.backward: dOutput \(dOutput.shape), dWeight \(dWeight.shape), dBias \(dBias.shape), dRows \(dRows.shape), dRest \(dRest.shape)")
        sums.resize(rows: units, columns: n)
        dOutput.accumulateColumnSums(into: &dBias)
        if restWidth > 0 && restGradient {
            Borrow.update(&dRest) { dr in
                Borrow.read(dOutput, weight) { dy, w in
                    GEMM.compute(m: b, n: restWidth, k: n, a: dy, lda: n, b: w + restColumn * n, ldb: n,
                                 transposeB: true, c: dr, ldc: restWidth, beta: 1)
                }
            }
        }
        Borrow.update(&dWeight, &sums, &dRows) { dw, s, dRowsPointer in
            Borrow.read(dOutput, weight, rest, index.offsets, index.members, embeddingRows, index.slots,
                        index.weightRows) { dy, w, r, offsets, members, rows, slot, row0 in
                if restWidth > 0 {
                    GEMM.compute(m: restWidth, n: n, k: b, a: r, lda: restWidth, transposeA: true,
                                 b: dy, ldb: n, c: dw + restColumn * n, ldc: n, beta: 1)
                }
                FoldedLinear.sum(units: units, n: n, dOutput: dy, dOutputStride: n, offsets: offsets,
                                 members: members, sums: s, sumsStride: n)
                FoldedLinear.backproject(units: units, d: d, n: n, rows: rows, slot: slot, row0: row0, sums: s,
                                         sumsStride: n, weight: w, weightStride: n, dWeight: dw, dRows: dRowsPointer)
            }
        }
    }

    /// `(B, n, first rest row of W, R)` after checking the shapes against the layout and the index.
    private static func checkShapes(
        weight: Tensor, layout: InputLayout, rows: Tensor, units: FoldedUnits, rest: Tensor, _ op: StaticString
    ) -> (Int, Int, Int, Int) {
        let restColumn = layout.categoricalCount * layout.embeddingDimension, restWidth = InputLayer.restWidth(layout)
        precondition(weight.rank == 2 && weight.shape[0] == layout.width && rest.rank == 2 && rest.shape[1] == restWidth,
                     "FoldedInputLinear.\(op): weight \(weight.shape), rest \(rest.shape) for D \(layout.width), R \(restWidth)")
        let b = rest.shape[0]
        precondition(units.unitOfValue.count == layout.categoricalCount * b && rows.shape[1] == layout.embeddingDimension
                     && units.offsets.count == units.count + 1,
                     "FoldedInputLinear.\(op): the unit index is not this batch's (\(units.unitOfValue.count) values for \(b) rows)")
        return (b, weight.shape[1], restColumn, restWidth)
    }
}
