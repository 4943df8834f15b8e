/// Fully connected layer with weights stored `(in, out)`:
///
/// ```
/// y = x·W + b
/// x: (B, In)   W: (In, Out)   b: (Out)   y: (B, Out)
/// ```
///
/// Both passes are GEMMs (``GEMM/multiply(_:transposed:_:transposed:into:alpha:beta:backend:)``),
/// whose naive reference is ``GEMM/referenceGEMM(m:n:k:a:lda:transposeA:b:ldb:transposeB:c:ldc:alpha:beta:)``.
public enum Linear {
    /// `output = input·weight + bias`, overwriting `output`.
    ///
    /// - Parameters:
    ///   - input: `(B, In)`.
    ///   - weight: `(In, Out)`.
    ///   - bias: `(Out)`.
    ///   - output: `(B, Out)`, already allocated; its old contents are ignored.
    /// - Complexity: `2·B·In·Out` flops.
    public static func forward(input: Tensor, weight: Tensor, bias: Tensor, output: inout Tensor) {
        let (b, n) = checkShapes(input: input, weight: weight, "Linear.forward")
        precondition(
            bias.shape == [n] && output.shape == [b, n],
            "Linear.forward: input \(input.shape) · weight \(weight.shape) needs bias [\(n)] and output [\(b), \(n)], got bias \(bias.shape), output \(output.shape)")
        // Seed every row with the bias, then accumulate x·W on top (beta = 1): one pass over y.
        output.withUnsafeMutableBufferPointer { y in
            bias.withUnsafeBufferPointer { bias in
                guard n > 0 else { return }
                for row in 0..<b { (y.baseAddress! + row * n).update(from: bias.baseAddress!, count: n) }
            }
        }
        GEMM.multiply(input, weight, into: &output, beta: 1)
    }

    /// Accumulates the gradients of all three arguments.
    ///
    /// ```
    /// dInput  += dY·Wᵀ        (B, In)
    /// dWeight += xᵀ·dY        (In, Out)
    /// dBias   += Σ_rows dY    (Out)
    /// ```
    public static func backward(
        input: Tensor, weight: Tensor, dOutput: Tensor,
        dInput: inout Tensor, dWeight: inout Tensor, dBias: inout Tensor
    ) {
        let (b, n) = checkShapes(input: input, weight: weight, "Linear.backward")
        precondition(
            dOutput.shape == [b, n] && dInput.shape == input.shape,
            "Linear.backward: input \(input.shape) · weight \(weight.shape) needs dOutput [\(b), \(n)] and dInput \(input.shape), got dOutput \(dOutput.shape), dInput \(dInput.shape)")
        GEMM.multiply(dOutput, transposed: false, weight, transposed: true, into: &dInput, beta: 1)
        backwardParameters(input: input, dOutput: dOutput, dWeight: &dWeight, dBias: &dBias)
    }

    /// ``backward(input:weight:dOutput:dInput:dWeight:dBias:)`` without the input gradient,
    /// for a first layer whose input is not differentiated.
    ///
    /// ```
    /// dWeight += xᵀ·dY        (In, Out)
    /// dBias   += Σ_rows dY    (Out)
    /// ```
    public static func backwardParameters(
        input: Tensor, dOutput: Tensor, dWeight: inout Tensor, dBias: inout Tensor
    ) {
        let (b, k) = input.requireMatrix("Linear.backwardParameters", "input")
        let (db, n) = dOutput.requireMatrix("Linear.backwardParameters", "dOutput")
        precondition(
            db == b && dWeight.shape == [k, n] && dBias.shape == [n],
            "Linear.backwardParameters: input \(input.shape), dOutput \(dOutput.shape) need dWeight [\(k), \(n)] and dBias [\(n)], got dWeight \(dWeight.shape), dBias \(dBias.shape)")
        GEMM.multiply(input, transposed: true, dOutput, into: &dWeight, beta: 1)
        dOutput.accumulateColumnSums(into: &dBias)
    }

    /// Checks `input (B, In)` against `weight (In, Out)`; returns `(B, Out)`.
    private static func checkShapes(input: Tensor, weight: Tensor, _ op: StaticString) -> (Int, Int) {
        let (b, k) = input.requireMatrix(op, "input")
        let (wk, n) = weight.requireMatrix(op, "weight")
        precondition(wk == k, "\(op): input \(input.shape) does not match weight \(weight.shape) (weights are stored (in, out))")
        return (b, n)
    }
}
