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

    static let shapes = [(1, 1, 1), (3, 7, 7), (5, 8, 11), (6, 13, 13), (9, 16, 20), (4, 64, 64), (2, 70, 75)]

    @Test(arguments: [TowerHead.Backend.automatic, .portable], [TowerHead.Activation.relu, .tanh])
    func `forward matches the naive loop`(backend: TowerHead.Backend, activation: TowerHead.Activation) {
        for (rows, width, lda) in Self.shapes {
            let z = randomTensor([rows * lda], seed: UInt64(rows * width), scale: 2).scalars
            let w2 = randomTensor([width], seed: 3).scalars, b1 = randomTensor([width], seed: 4).scalars
            let expected = Self.referenceForward(z, rows: rows, width: width, lda: lda, tanh: activation == .tanh, b1: b1, w2: w2, b2: 0.25)
            var a = z, logits = [Float](repeating: .nan, count: rows)
            a.withUnsafeMutableBufferPointer { a in
                logits.withUnsafeMutableBufferPointer { l in
                    TowerHead.forward(a.baseAddress!, rows: rows, width: width, lda: lda, activation: activation,
                                      b1: b1, w2: w2, b2: 0.25, logits: l.baseAddress!, backend: backend)
                }
            }
            expectClose(Tensor(shape: [a.count], scalars: a), Tensor(shape: [a.count], scalars: expected.a), rtol: 1e-5, atol: 1e-6,
                        "\(rows)×\(width) lda \(lda)")
            expectClose(Tensor(shape: [rows], scalars: logits), Tensor(shape: [rows], scalars: expected.logits), rtol: 1e-5, atol: 1e-5,
                        "\(rows)×\(width) lda \(lda)")
        }
    }

    @Test(arguments: [TowerHead.Backend.automatic, .portable], [TowerHead.Activation.relu, .tanh])
    func `backward matches the naive loop`(backend: TowerHead.Backend, activation: TowerHead.Activation) {
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
                                           w2: w2, dw2: dw2.baseAddress!, db1: db1.baseAddress!, backend: backend)
                    }
                }
            }
            let label = "\(rows)×\(width) lda \(lda)"
            expectClose(Tensor(shape: [a.count], scalars: a), Tensor(shape: [a.count], scalars: expectedA), rtol: 1e-5, atol: 1e-6, label)
            expectClose(Tensor(shape: [width], scalars: dw2), Tensor(shape: [width], scalars: expectedDw2), rtol: 1e-5, atol: 1e-5, label)
            expectClose(Tensor(shape: [width], scalars: db1), Tensor(shape: [width], scalars: expectedDb1), rtol: 1e-5, atol: 1e-5, label)
        }
    }
}
