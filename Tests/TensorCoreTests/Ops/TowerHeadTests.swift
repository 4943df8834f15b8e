import Foundation
import TensorCore
import TestSupport
import Testing

/// The fused tower-head passes against naive loops, in both backends, with row strides.
@Suite struct TowerHeadTests {
    /// Naive forward: activated copy of `z` and the logits.
    static func referenceForward(_ z: [Float], rows: Int, width: Int, lda: Int, tanh: Bool, b1: [Float], w2: [Float], b2: Float)
        -> (a: [Float], logits: [Float]) {
        var a = z, logits = [Float](repeating: 0, count: rows)
        for i in 0..<rows {
            var sum = 0.0
            for j in 0..<width {
                let v = z[i * lda + j] + b1[j]
                let act = tanh ? Float(Foundation.tanh(Double(v))) : max(v, 0)
                a[i * lda + j] = act
                sum += Double(act) * Double(w2[j])
            }
            logits[i] = b2 + Float(sum)
        }
        return (a, logits)
    }

    /// Widths off every vector width (8, 16) and the 64-wide row, with padded row strides.
    static let shapes = [(1, 1, 1), (3, 7, 7), (5, 8, 11), (6, 13, 13), (9, 16, 20), (4, 64, 64), (2, 70, 75), (3, 33, 40)]

    @Test(arguments: SIMDLevel.available, [TowerHead.Activation.relu, .tanh])
    func `forward matches the naive loop`(level: SIMDLevel, activation: TowerHead.Activation) {
        for (rows, width, lda) in Self.shapes {
            let z = randomTensor([rows * lda], seed: UInt64(rows * width), scale: 2).scalars
            let w2 = randomTensor([width], seed: 3).scalars, b1 = randomTensor([width], seed: 4).scalars
            let expected = Self.referenceForward(z, rows: rows, width: width, lda: lda, tanh: activation == .tanh, b1: b1, w2: w2, b2: 0.25)
            var a = z, logits = [Float](repeating: .nan, count: rows)
            a.withUnsafeMutableBufferPointer { a in
                logits.withUnsafeMutableBufferPointer { l in
                    TowerHead.forward(a.baseAddress!, rows: rows, width: width, lda: lda, activation: activation,
                                      b1: b1, w2: w2, b2: 0.25, logits: l.baseAddress!, level: level)
                }
            }
            expectClose(Tensor(shape: [a.count], scalars: a), Tensor(shape: [a.count], scalars: expected.a), rtol: 1e-5, atol: 1e-6,
                        "\(rows)×\(width) lda \(lda)")
            expectClose(Tensor(shape: [rows], scalars: logits), Tensor(shape: [rows], scalars: expected.logits), rtol: 1e-5, atol: 1e-5,
                        "\(rows)×\(width) lda \(lda)")
        }
    }

    @Test(arguments: SIMDLevel.available, [TowerHead.Activation.relu, .tanh])
    func `backward matches the naive loop`(level: SIMDLevel, activation: TowerHead.Activation) {
        for (rows, width, lda) in Self.shapes {
            // Activations as forward leaves them: ReLU outputs ≥ 0 (some exactly 0), tanh outputs in (−1, 1).
            var a = randomTensor([rows * lda], seed: UInt64(7 + rows), scale: 1.5).scalars.map { v in
                activation == .relu ? max(v, 0) : Float(Foundation.tanh(Double(v)))
            }
            let d = randomTensor([rows], seed: 5).scalars, w2 = randomTensor([width], seed: 6).scalars
            var dw2 = randomTensor([width], seed: 8).scalars, db1 = randomTensor([width], seed: 9).scalars
            var expectedA = a, expectedDw2 = dw2, expectedDb1 = db1
            for i in 0..<rows {
                for j in 0..<width {
                    let v = a[i * lda + j]
                    expectedDw2[j] += v * d[i]
                    let slope: Float = activation == .relu ? (v > 0 ? 1 : 0) : 1 - v * v
                    expectedA[i * lda + j] = d[i] * w2[j] * slope
                    expectedDb1[j] += expectedA[i * lda + j]
                }
            }
            a.withUnsafeMutableBufferPointer { a in
                dw2.withUnsafeMutableBufferPointer { dw2 in
                    db1.withUnsafeMutableBufferPointer { db1 in
                        TowerHead.backward(a.baseAddress!, rows: rows, width: width, lda: lda, activation: activation, d: d,
                                           w2: w2, dw2: dw2.baseAddress!, db1: db1.baseAddress!, level: level)
                    }
                }
            }
            let label = "\(rows)×\(width) lda \(lda)"
            expectClose(Tensor(shape: [a.count], scalars: a), Tensor(shape: [a.count], scalars: expectedA), rtol: 1e-5, atol: 1e-6, label)
            expectClose(Tensor(shape: [width], scalars: dw2), Tensor(shape: [width], scalars: expectedDw2), rtol: 1e-5, atol: 1e-5, label)
            expectClose(Tensor(shape: [width], scalars: db1), Tensor(shape: [width], scalars: expectedDb1), rtol: 1e-5, atol: 1e-5, label)
        }
    }

    /// The whole forward pass (multiply included) at every level against the GEMM reference and the
    /// naive head: widths of 1–4 AVX-512 vectors, full and partial (fused with AVX-512 and ReLU; 70
    /// and k = 300 take the unfused path), strided rows, the hidden matrix kept or not.
    @Test(arguments: SIMDLevel.available, [TowerHead.Activation.relu, .tanh])
    func `whole forward pass matches GEMM then the naive head`(level: SIMDLevel, activation: TowerHead.Activation) {
        // Rows mod 6 = 1 … 5: the last 6-row sliver runs a 2-, 4- or 6-row tile.
        for (rows, k, width) in [(1, 1, 1), (5, 7, 16), (8, 20, 24), (7, 40, 33), (13, 64, 64), (200, 64, 64), (9, 33, 47),
                                 (16, 64, 64), (10, 9, 50), (7, 16, 70), (11, 300, 33)] {
            let ldx = k + 3, ldh = width + 5
            let x = randomTensor([rows * ldx], seed: UInt64(rows * 31 + k)).scalars
            let w1 = randomTensor([k * width], seed: UInt64(width + 7), scale: 0.5).scalars
            let b1 = randomTensor([width], seed: 4).scalars, w2 = randomTensor([width], seed: 3).scalars
            var z = [Float](repeating: 0, count: rows * ldh)
            x.withUnsafeBufferPointer { x in
                w1.withUnsafeBufferPointer { w in
                    z.withUnsafeMutableBufferPointer { z in
                        GEMM.referenceGEMM(m: rows, n: width, k: k, a: x.baseAddress!, lda: ldx, transposeA: false,
                                           b: w.baseAddress!, ldb: width, transposeB: false, c: z.baseAddress!, ldc: ldh,
                                           alpha: 1, beta: 0)
                    }
                }
            }
            let expected = Self.referenceForward(z, rows: rows, width: width, lda: ldh, tanh: activation == .tanh,
                                                 b1: b1, w2: w2, b2: -0.5)
            for keepHidden in [true, false] {
                var hidden = [Float](repeating: .nan, count: rows * ldh), logits = [Float](repeating: .nan, count: rows)
                hidden.withUnsafeMutableBufferPointer { h in
                    logits.withUnsafeMutableBufferPointer { l in
                        TowerHead.forward(x: x, rows: rows, k: k, ldx: ldx, w1: w1, width: width, b1: b1, w2: w2, b2: -0.5,
                                          activation: activation, hidden: h.baseAddress!, ldh: ldh, keepHidden: keepHidden,
                                          logits: l.baseAddress!, level: level)
                    }
                }
                let label = "\(level) \(rows)×\(k)→\(width) keep \(keepHidden)"
                let atol = 1e-5 * Float(k).squareRoot()
                expectClose(Tensor(shape: [rows], scalars: logits), Tensor(shape: [rows], scalars: expected.logits),
                            rtol: 1e-5, atol: atol * Float(width).squareRoot(), label)
                if keepHidden {
                    for i in 0..<rows {
                        let got = Tensor(shape: [width], scalars: Array(hidden[(i * ldh)..<(i * ldh + width)]))
                        let want = Tensor(shape: [width], scalars: Array(expected.a[(i * ldh)..<(i * ldh + width)]))
                        expectClose(got, want, rtol: 1e-5, atol: atol, "\(label) row \(i)")
                        // The padding between rows is never written.
                        let padding = hidden[(i * ldh + width)..<(i * ldh + ldh)]
                        #expect(padding.allSatisfy { $0.isNaN }, "\(label) row \(i) padding")
                    }
                }
            }
        }
    }
}
