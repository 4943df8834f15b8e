extension CatalogueScan {
    /// The int8 scan's query terms (``Int8Panels``): `cq` into ``queryCodes``, and
    ///
    /// ```
    /// s_q = max_j |q_j| / 127,   cq_j = round(q_j / s_q) ∈ [−127, 127],   q̂ = s_q·cq
    /// Q1 = ‖q‖,   Q2 = ‖q − q̂‖ + 2.0001·u·‖q̂‖          (Double, widened by 10⁻⁶, rounded up to Floats)
    /// ```
    /// nil where the bound is not proven (`‖q‖ ∉ [2⁻⁴⁰, 2¹⁰⁰]`, `‖q‖·maxNorm > 2¹²⁰`,
    /// `maxNorm > 2¹¹⁰`, or a non-finite query): the caller scores every item exactly.
    mutating func quantizeQuery(_ q: UnsafePointer<Float>, dimension d: Int, panels p: Int8Panels) -> (scale: Float, q1: Float, q2: Float)? {
        var norm2 = 0.0, maxAbs: Float = 0
        for j in 0..<d { norm2 += Double(q[j]) * Double(q[j]); maxAbs = max(maxAbs, abs(q[j])) }
        let norm = norm2.squareRoot()
        guard norm >= 0x1p-40 && norm <= 0x1p100 && norm * p.maxNorm <= 0x1p120 && p.maxNorm <= 0x1p110 else { return nil }
        let scale = maxAbs / 127
        if queryCodes.count != 4 * p.groups { queryCodes = [Int8](repeating: 0, count: 4 * p.groups) }
        var residual2 = 0.0, quantized2 = 0.0
        for j in 0..<d {
            let c = Int8Panels.code(q[j], scale: scale)
            queryCodes[j] = c
            let qhat = Double(scale) * Double(c)
            residual2 += (Double(q[j]) - qhat) * (Double(q[j]) - qhat)
            quantized2 += qhat * qhat
        }
        let q2 = (residual2.squareRoot() + 2.0001 * 0x1p-24 * quantized2.squareRoot()) * (1 + 1e-6)
        return (scale, Float(norm * (1 + 1e-6)).nextUp, Float(q2).nextUp)
    }
}
