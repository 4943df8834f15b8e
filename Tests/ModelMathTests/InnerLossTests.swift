import ModelMath
import TensorCore
import TestSupport
import Testing

/// The inner losses' logit gradients and Hessian-vector products against finite differences,
/// and the ranking losses' invariance to a per-user offset.
@Suite struct InnerLossTests {
    static let losses: [InnerLoss] = [.pointwise, .pairwise(pointwiseWeight: 0), .pairwise(pointwiseWeight: 0.5),
                                      .listwise(pointwiseWeight: 0), .listwise(pointwiseWeight: 0.3)]

    /// Labels with a missing one and a tie; binary 0/1, regression ratings in 1…5.
    static func labels(kind: TaskKind) -> [Float] {
        kind == .binary ? [1, 0, .nan, 1, 0, 0, 1] : [4, 2.5, .nan, 5, 1, 2.5, 3]
    }

    static func value(_ loss: InnerLoss, kind: TaskKind, logits: [Float], labels: [Float]) -> Double {
        var d = [Float](repeating: 0, count: logits.count)
        let n = labels.filter { !$0.isNaN }.count
        return loss.logitGradient(kind: kind, logits: logits, rows: logits.count, labels: labels, labelStride: 1,
                                  normalizer: n, into: &d)
    }

    static func gradient(_ loss: InnerLoss, kind: TaskKind, logits: [Float], labels: [Float]) -> [Float] {
        var d = [Float](repeating: 0, count: logits.count)
        let n = labels.filter { !$0.isNaN }.count
        loss.logitGradient(kind: kind, logits: logits, rows: logits.count, labels: labels, labelStride: 1,
                           normalizer: n, into: &d)
        return d
    }

    static let logits: [Float] = [0.3, -1.2, 0.8, 2.1, -0.4, 0.05, 1.4]

    @Test(arguments: losses, [TaskKind.binary, .regression])
    func `the logit gradient matches finite differences of the loss`(loss: InnerLoss, kind: TaskKind) {
        let y = Self.labels(kind: kind)
        let analytic = Self.gradient(loss, kind: kind, logits: Self.logits, labels: y)
        let numeric = TestSupport.numericalGradient(of: { z in
            Self.value(loss, kind: kind, logits: z.scalars, labels: y)
        }, at: Tensor(shape: [7], scalars: Self.logits), step: 1e-2)
        expectClose(Tensor(shape: [7], scalars: analytic), numeric, rtol: 2e-3, atol: 1e-4)
        #expect(analytic[2] == 0, "an unlabelled row gets no gradient")
    }

    @Test(arguments: losses, [TaskKind.binary, .regression])
    func `the logit Hessian-vector product matches finite differences of the gradient`(loss: InnerLoss, kind: TaskKind) {
        let y = Self.labels(kind: kind), v: [Float] = [0.5, -1, 0.25, 2, -0.75, 1.5, -0.2]
        var hv = [Float](repeating: 0, count: 7)
        loss.addLogitHessianVector(kind: kind, logits: Self.logits, rows: 7, labels: y, labelStride: 1, normalizer: 6,
                                   direction: v, into: &hv)
        // ψ(z) = ⟨∇L(z), v⟩, so ∇ψ = H v.
        let numeric = TestSupport.numericalGradient(of: { z in
            let g = Self.gradient(loss, kind: kind, logits: z.scalars, labels: y)
            return zip(g, v).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }, at: Tensor(shape: [7], scalars: Self.logits), step: 1e-2)
        expectClose(Tensor(shape: [7], scalars: hv), numeric, rtol: 5e-3, atol: 2e-4)
    }

    @Test(arguments: [InnerLoss.pairwise(pointwiseWeight: 0), .listwise(pointwiseWeight: 0)], [TaskKind.binary, .regression])
    func `a ranking loss ignores a per-user offset`(loss: InnerLoss, kind: TaskKind) {
        let y = Self.labels(kind: kind)
        let shifted = Self.logits.map { $0 + 3.5 }
        #expect(abs(Self.value(loss, kind: kind, logits: Self.logits, labels: y)
                    - Self.value(loss, kind: kind, logits: shifted, labels: y)) < 1e-5)
        let g = Self.gradient(loss, kind: kind, logits: Self.logits, labels: y)
        #expect(abs(g.reduce(0, +)) < 1e-6, "the gradient has no component along the offset")
        // The pointwise loss, by contrast, does see the offset (the check can fail).
        #expect(abs(Self.value(.pointwise, kind: kind, logits: Self.logits, labels: y)
                    - Self.value(.pointwise, kind: kind, logits: shifted, labels: y)) > 1e-2)
    }

    @Test func `the pairwise loss counts each ordered pair once and skips ties`() {
        // Labels 2, 1, 1: pairs (0,1) and (0,2); z all 0 → L = log 2 (mean over the two pairs).
        let value = Self.value(.pairwise(pointwiseWeight: 0), kind: .regression, logits: [0, 0, 0], labels: [2, 1, 1])
        #expect(abs(value - log(2.0)) < 1e-6)
        #expect(Self.gradient(.pairwise(pointwiseWeight: 0), kind: .regression, logits: [0, 0, 0], labels: [2, 1, 1])
                == [-0.5, 0.25, 0.25])
    }
}

extension InnerLoss: CustomTestStringConvertible {
    public var testDescription: String {
        switch self {
        case .pointwise: "pointwise"
        case .pairwise(let w): "pairwise+\(w)"
        case .listwise(let w): "listwise+\(w)"
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
