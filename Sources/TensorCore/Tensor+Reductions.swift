/// Reductions over all elements, rows and columns.
extension Tensor {
    /// Sum of every element, accumulated in Double so long tensors don't lose precision.
    public func sum() -> Double {
        scalars.withUnsafeBufferPointer { x in
            var total = 0.0
            for v in x { total += Double(v) }
            return total
        }
    }

    /// Mean of every element (0 for an empty tensor).
    public func mean() -> Double {
        count == 0 ? 0 : sum() / Double(count)
    }

    /// Column sums of a rank-2 (M, N) tensor: `out[j] = Σ_i self[i, j]`, shape (N).
    /// This is the bias gradient of a linear layer.
    public func sumOverRows() -> Tensor {
        var out = Tensor(shape: [columns])
        accumulateColumnSums(into: &out)
        return out
    }

    /// `out[j] += Σ_i self[i, j]` for a rank-2 (M, N) tensor and an (N) accumulator.
    public func accumulateColumnSums(into out: inout Tensor) {
        let m = rows, n = columns
        precondition(out.shape == [n], "accumulateColumnSums: out \(out.shape), expected [\(n)]")
        guard m > 0, n > 0 else { return }
        scalars.withUnsafeBufferPointer { x in
            out.scalars.withUnsafeMutableBufferPointer { o in
                // 32 columns at a time in four 8-lane accumulators held over every row (the
                // compiler does not vectorise `o[j] += x[…]`: it cannot prove the buffers disjoint).
                typealias V = SIMD8<Float>
                let xs = UnsafeRawPointer(x.baseAddress!), os = UnsafeMutableRawPointer(o.baseAddress!)
                let stride = MemoryLayout<Float>.stride
                var j = 0
                while j + 32 <= n {
                    var a0 = V(repeating: 0), a1 = a0, a2 = a0, a3 = a0
                    for i in 0..<m {
                        let p = (i * n + j) * stride
                        a0 += xs.loadUnaligned(fromByteOffset: p, as: V.self)
                        a1 += xs.loadUnaligned(fromByteOffset: p + 32, as: V.self)
                        a2 += xs.loadUnaligned(fromByteOffset: p + 64, as: V.self)
                        a3 += xs.loadUnaligned(fromByteOffset: p + 96, as: V.self)
                    }
                    let q = j * stride
                    os.storeBytes(of: os.loadUnaligned(fromByteOffset: q, as: V.self) + a0, toByteOffset: q, as: V.self)
                    os.storeBytes(of: os.loadUnaligned(fromByteOffset: q + 32, as: V.self) + a1, toByteOffset: q + 32, as: V.self)
                    os.storeBytes(of: os.loadUnaligned(fromByteOffset: q + 64, as: V.self) + a2, toByteOffset: q + 64, as: V.self)
                    os.storeBytes(of: os.loadUnaligned(fromByteOffset: q + 96, as: V.self) + a3, toByteOffset: q + 96, as: V.self)
                    j += 32
                }
                while j + 8 <= n {
                    var a = V(repeating: 0)
                    for i in 0..<m { a += xs.loadUnaligned(fromByteOffset: (i * n + j) * stride, as: V.self) }
                    os.storeBytes(of: os.loadUnaligned(fromByteOffset: j * stride, as: V.self) + a, toByteOffset: j * stride, as: V.self)
                    j += 8
                }
                for jj in j..<n {
                    var s: Float = 0
                    for i in 0..<m { s += x[i * n + jj] }
                    o[jj] += s
                }
            }
        }
    }

    /// Row sums of a rank-2 (M, N) tensor: `out[i] = Σ_j self[i, j]`, shape (M).
    public func sumOverColumns() -> Tensor {
        let m = rows, n = columns
        var out = Tensor(shape: [m])
        scalars.withUnsafeBufferPointer { x in
            out.scalars.withUnsafeMutableBufferPointer { o in
                for i in 0..<m {
                    var s: Float = 0
                    for j in 0..<n { s += x[i * n + j] }
                    o[i] = s
                }
            }
        }
        return out
    }

    /// Largest absolute element (0 for an empty tensor).
    public func maxAbs() -> Float {
        scalars.reduce(0) { Swift.max($0, abs($1)) }
    }

    /// Squared L2 norm, in Double.
    public func squaredNorm() -> Double {
        scalars.reduce(0.0) { $0 + Double($1) * Double($1) }
    }
}
