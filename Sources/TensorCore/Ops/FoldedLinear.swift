import CKernels

/// Kernels of a linear layer folded onto embedding rows: `y = x·W` where `x`'s first `F·d`
/// columns are embedding rows, computed once per distinct row of each feature (a *unit*)
/// instead of once per batch row.
///
/// ```
/// x = [ e_1 | … | e_F | rest ]           e_f = the embedding row of batch row b's value of feature f
/// x·W = Σ_f e_f·W_f + rest·W_rest        W_f = rows f·d ..< (f+1)·d of W      (n columns)
///     = Σ_f P[unit(f, b)] + rest·W_rest   P[u] = row(u)·W_{f(u)}              (U, n)
/// ```
/// Units `u < U`: `slot[u]` is the unit's row in `rows` (`(·, d)`), `row0[u]` the first of the
/// `d` rows of `W` that multiply it (`f·d`); `unit[f·B + b]` is the unit of row `b`'s value of
/// feature `f`; `members` lists, unit by unit, the batch rows that read it. A dense layer costs `2·B·F·d·n` flops per pass; folded, `2·U·d·n` flops plus
/// `B·F·n` additions, and `U ≤ B·F` (a feature of 10 values has at most 10 units).
///
/// Every function runs at ``SIMDLevel/inUse`` by default (AVX-512 up to 64 columns in registers,
/// or plain loops) and allocates nothing. Pointers: row-major, row strides as named.
public enum FoldedLinear {
    /// `P[u, c] = Σ_{k<d} rows[slot[u]·d + k] · W[row0[u] + k, c]`, `P` `(U, n)` overwritten.
    public static func project(
        units: Int, d: Int, n: Int, rows: UnsafePointer<Float>, slot: UnsafePointer<Int32>, row0: UnsafePointer<Int32>,
        weight: UnsafePointer<Float>, weightStride: Int, projection: UnsafeMutablePointer<Float>, projectionStride: Int,
        level: SIMDLevel = .inUse
    ) {
        precondition(units >= 0 && d >= 1 && n >= 0 && weightStride >= n && projectionStride >= n,
                     "FoldedLinear.project: units \(units), d \(d), n \(n), strides \(weightStride), \(projectionStride)")
        precondition(level <= .cpu, "FoldedLinear: this CPU cannot run the \(level) kernel")
        mr_fold_project_at_level(Int32(level.rawValue), units, d, n, rows, slot, row0, weight, weightStride,
                                 projection, projectionStride)
    }

    /// `out[b, c] += bias[c] + Σ_{f<F} P[unit[f·B + b], c]` for `b < B` (`bias` may be nil).
    public static func gather(
        rows b: Int, fields: Int, n: Int, projection: UnsafePointer<Float>, projectionStride: Int,
        unit: UnsafePointer<Int32>, bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, outputStride: Int,
        level: SIMDLevel = .inUse
    ) {
        precondition(b >= 0 && fields >= 0 && n >= 0 && projectionStride >= n && outputStride >= n,
                     "FoldedLinear.gather: rows \(b), fields \(fields), n \(n), strides \(projectionStride), \(outputStride)")
        precondition(level <= .cpu, "FoldedLinear: this CPU cannot run the \(level) kernel")
        mr_fold_gather_at_level(Int32(level.rawValue), b, fields, n, projection, projectionStride, unit, bias,
                                output, outputStride)
    }

    /// `S[u, c] = Σ_{offsets[u] ≤ i < offsets[u+1]} dY[members[i], c]`, `S` `(U, n)` overwritten:
    /// the gradient of the loss with respect to `P[u]`, summed over the batch rows that read unit
    /// `u` (`members`, grouped by unit; a row may be listed more than once and then counts as often).
    public static func sum(
        units: Int, n: Int, dOutput: UnsafePointer<Float>, dOutputStride: Int, offsets: UnsafePointer<Int32>,
        members: UnsafePointer<Int32>, sums: UnsafeMutablePointer<Float>, sumsStride: Int, level: SIMDLevel = .inUse
    ) {
        precondition(units >= 0 && n >= 0 && dOutputStride >= n && sumsStride >= n,
                     "FoldedLinear.sum: units \(units), n \(n), strides \(dOutputStride), \(sumsStride)")
        precondition(level <= .cpu, "FoldedLinear: this CPU cannot run the \(level) kernel")
        mr_fold_sum_at_level(Int32(level.rawValue), units, n, dOutput, dOutputStride, offsets, members, sums, sumsStride)
    }

    /// Backward of ``project(units:d:n:rows:slot:row0:weight:weightStride:projection:projectionStride:level:)``
    /// from `S = ∂L/∂P`, accumulated:
    ///
    /// ```
    /// dW[row0[u] + k, c]    += rows[slot[u]·d + k] · S[u, c]
    /// dRows[slot[u]·d + k]  += Σ_c S[u, c] · W[row0[u] + k, c]
    /// ```
    /// `dWeight` has the weight's shape and stride, `dRows` the rows' shape.
    public static func backproject(
        units: Int, d: Int, n: Int, rows: UnsafePointer<Float>, slot: UnsafePointer<Int32>, row0: UnsafePointer<Int32>,
        sums: UnsafePointer<Float>, sumsStride: Int, weight: UnsafePointer<Float>, weightStride: Int,
        dWeight: UnsafeMutablePointer<Float>, dRows: UnsafeMutablePointer<Float>, level: SIMDLevel = .inUse
    ) {
        precondition(units >= 0 && d >= 1 && n >= 0 && weightStride >= n && sumsStride >= n,
                     "FoldedLinear.backproject: units \(units), d \(d), n \(n), strides \(weightStride), \(sumsStride)")
        precondition(level <= .cpu, "FoldedLinear: this CPU cannot run the \(level) kernel")
        mr_fold_backproject_at_level(Int32(level.rawValue), units, d, n, rows, slot, row0, sums, sumsStride,
                                     weight, weightStride, dWeight, dRows)
    }
}
