import ModelMath
import TensorCore

/// Random encoded batches for model tests: keys from small vocabularies (so rows repeat),
/// bags of 0–3 values, numeric N(0, 1), binary and regression labels with some missing.
public func randomBatch(
    rows: Int, layout: InputLayout, tasks: [TaskSpec], taskKeys: Int = 3, seed: UInt64
) -> EncodedBatch {
    var rng = SeededRandom(seed: seed)
    var batch = EncodedBatch(
        categoricalWidth: layout.categoricalCount, multiCategoricalWidth: layout.multiCategoricalPooling.count,
        numericWidth: layout.numericCount, labelWidth: tasks.count)
    for r in 0..<rows {
        let categorical = (0..<layout.categoricalCount).map { f in UInt64(f * 1000 + Int(rng.next() % 5)) }
        let multi = (0..<layout.multiCategoricalPooling.count).map { m in
            (0..<Int(rng.next() % 4)).map { _ in UInt64(50_000 + m * 1000 + Int(rng.next() % 6)) }
        }
        let numeric = (0..<layout.numericCount).map { _ in rng.nextNormal() }
        let labels: [Float] = tasks.enumerated().map { k, task in
            if (r + k) % 7 == 6 { return .nan }
            switch task.kind {
            case .binary: return rng.nextUniform() < 0.5 ? 0 : 1
            case .regression: return rng.nextNormal()
            }
        }
        batch.append(categorical: categorical, multiCategorical: multi, numeric: numeric, labels: labels,
                     taskKey: UInt64(rng.next() % UInt64(taskKeys)), timestamp: Int64(r))
    }
    return batch
}
