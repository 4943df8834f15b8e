#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TensorCore

/// `metarec datasets synthetic-scenes`: writes the multi-scene log of ``SceneSyntheticGenerator``
/// as `train.csv`, `validation.csv`, `test.csv`, `config.yaml` and the ground truth
/// `scenes.csv`.
///
/// Columns: `user_id` (1 … U'), `scene` (`s01` … `sNN`, by descending traffic), `timestamp`
/// (`1,600,000,000 + 10·i`), `x0 … x{d−1}`, `z0 … z{m−1}` (4 decimals), `click`, `like` (0/1).
/// Split: random 8:1:1 (``HashSplit`` on the row index, seeded). `scenes.csv`: per scene its
/// share `π_s`, users, rows per split, label shifts `b_{s,1}`, `b_{s,2}` and the oracle test AUC of
/// each task (the AUC of the true probability on the scene's test rows: the ceiling).
public enum SceneSyntheticDataset {
    /// The scene's name: `s` and its 1-based rank, zero-padded to two digits.
    public static func sceneName(_ s: Int) -> String { s + 1 < 10 ? "s0\(s + 1)" : "s\(s + 1)" }

    /// Generates and writes the log (see the type's documentation).
    /// - Throws: ``DatasetError/writeFailed(file:reason:)``.
    @discardableResult
    public static func write(_ config: SceneSyntheticConfig, to directory: String,
                             progress: ((DatasetProgress) -> Void)? = nil) throws -> DatasetSummary {
        let truth = SceneSyntheticGenerator(config)
        let (d, m) = (config.sharedFeatures, config.sceneFeatures)
        let xs = (0..<d).map { "x\($0)" }, zs = (0..<m).map { "z\($0)" }
        let output = try DatasetOutput<Int>(directory: directory,
                                            header: ["user_id", "scene", "timestamp"] + xs + zs + ["click", "like"], labelCount: 2)
        let split = try HashSplit(seed: config.seed, trainFraction: 0.8, validationFraction: 0.1)
        var rng = SeededRandom(seed: SyntheticGenerator.streamSeed(config.seed, .rows))
        var tally = SceneTally(scenes: config.scenes)
        var x = [Double](repeating: 0, count: d), z = [Double](repeating: 0, count: m), labels = [0.0, 0.0]
        let step = max(1, config.rows / 20)
        for i in 0..<config.rows {
            let s = truth.drawScene(rng.nextDouble())
            let users = truth.userStart[s + 1] - truth.userStart[s]
            let u = truth.userStart[s] + Int(rng.next() % UInt64(users))
            for j in 0..<d { x[j] = CSVWriter.roundedForOutput(rng.normal(), decimals: 4) }
            for j in 0..<m { z[j] = CSVWriter.roundedForOutput(rng.normal(), decimals: 4) }
            var probabilities = [0.0, 0.0]
            for k in 0..<2 {
                probabilities[k] = 1 / (1 + exp(-truth.logit(task: k, scene: s, user: u, x: x, z: z)))
                labels[k] = rng.nextDouble() < probabilities[k] ? 1 : 0
            }
            let destination = split.split(row: i)
            tally.add(scene: s, split: destination, probabilities: probabilities, labels: labels)
            let writer = output.writer(destination)
            writer.writeField(u + 1)
            writer.writeField(sceneName(s))
            writer.writeField(SyntheticDataset.startTime + 10 * i)
            for value in x + z { writer.writeField(value, decimals: 4) }
            for value in labels { writer.writeField(Int(value)) }
            try output.record(destination, task: u, labels: labels)
            if (i + 1) % step == 0 { progress?(DatasetProgress(stage: "writing rows", done: i + 1, total: config.rows)) }
        }
        try DatasetFiles.write(tally.csv(truth), to: directory + "/scenes.csv")
        var datasetConfig = DatasetConfig(
            taskKey: "user_id", time: "timestamp",
            features: [.init("user_id", .categorical), .init("scene", .categorical)]
                + (xs + zs).map { .init($0, .numeric(.none)) },
            labels: [.init("click", .binary), .init("like", .binary)])
        datasetConfig.scene = "scene"
        datasetConfig.seed = config.seed
        return try output.finish(config: datasetConfig)
    }
}

/// Per scene and split: row counts, and the test rows' true probabilities and labels (for the
/// oracle AUC of `scenes.csv`).
struct SceneTally {
    var rows: [[Int]]                 // (N, 3) rows per split
    var probabilities: [[[Double]]]   // (N, 2, test rows) true probability per task
    var labels: [[[Double]]]          // (N, 2, test rows)

    init(scenes: Int) {
        rows = Array(repeating: [0, 0, 0], count: scenes)
        probabilities = Array(repeating: [[], []], count: scenes)
        labels = Array(repeating: [[], []], count: scenes)
    }

    mutating func add(scene s: Int, split: DatasetSplit, probabilities p: [Double], labels y: [Double]) {
        rows[s][split.index] += 1
        guard split == .test else { return }
        for k in 0..<2 {
            probabilities[s][k].append(p[k])
            labels[s][k].append(y[k])
        }
    }

    /// `scene,share,users,train_rows,validation_rows,test_rows,bias_click,bias_like,oracle_auc_click,oracle_auc_like`
    /// (an oracle AUC is empty when the scene's test rows hold one class).
    func csv(_ truth: SceneSyntheticGenerator) -> String {
        func f(_ x: Double) -> String { DatasetSummary.fixed(x, 4) }
        var lines = ["scene,share,users,train_rows,validation_rows,test_rows,bias_click,bias_like,oracle_auc_click,oracle_auc_like"]
        for s in rows.indices {
            let oracle = (0..<2).map { k in
                RankingMetrics.auc(labels: labels[s][k], scores: probabilities[s][k]).map(f) ?? ""
            }
            let users = truth.userStart[s + 1] - truth.userStart[s]
            lines.append([SceneSyntheticDataset.sceneName(s), f(truth.shares[s]), String(users)].joined(separator: ",")
                         + "," + rows[s].map(String.init).joined(separator: ",") + ","
                         + truth.biases[s].map(f).joined(separator: ",") + "," + oracle.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
