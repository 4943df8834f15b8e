import MetaTrain
import ModelDescription
import ModelMath
import TensorCore
import Testing

@Suite struct MetricsTests {
    /// AUC as the fraction of (positive, negative) pairs ordered correctly, ties counting half.
    static func pairwiseAUC(_ scores: [Float], _ labels: [Float]) -> Double {
        var good = 0.0, pairs = 0.0
        for i in scores.indices where labels[i] == 1 {
            for j in scores.indices where labels[j] == 0 {
                pairs += 1
                if scores[i] > scores[j] { good += 1 } else if scores[i] == scores[j] { good += 0.5 }
            }
        }
        return good / pairs
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func `auc matches the pairwise definition including ties`(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        let n = 200
        let scores = (0..<n).map { _ in Float(Int.random(in: 0..<20, using: &rng)) / 20 }
        let labels = (0..<n).map { _ in Float(Int.random(in: 0...1, using: &rng)) }
        let auc = TaskMetricsAccumulator.auc(scores: scores, labels: labels)
        #expect(abs(auc - Self.pairwiseAUC(scores, labels)) < 1e-12)
    }

    @Test func `perfect and reversed rankings give one and zero`() {
        #expect(TaskMetricsAccumulator.auc(scores: [0.1, 0.2, 0.8, 0.9], labels: [0, 0, 1, 1]) == 1)
        #expect(TaskMetricsAccumulator.auc(scores: [0.9, 0.8, 0.2, 0.1], labels: [0, 0, 1, 1]) == 0)
        #expect(TaskMetricsAccumulator.auc(scores: [0.1, 0.2], labels: [1, 1]).isNaN)
    }

    @Test func `regression metrics skip missing labels`() {
        var acc = TaskMetricsAccumulator(kind: .regression)
        acc.add(prediction: 1, label: 2)
        acc.add(prediction: 0, label: .nan)
        acc.add(prediction: 3, label: 0)
        let m = acc.result()
        #expect(m.count == 2)
        #expect(abs(m.rmse! - (5.0).squareRoot()) < 1e-9)
        #expect(abs(m.mae! - 2) < 1e-9)
    }
}
