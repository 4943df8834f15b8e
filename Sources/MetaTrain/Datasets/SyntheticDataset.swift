#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TensorCore

/// `metarec datasets synthetic`: writes the synthetic two-task log (see ``SyntheticGenerator``)
/// as `train.csv`, `validation.csv`, `test.csv` and a matching `config.yaml`.
///
/// Columns: `user_id` (1…users), `timestamp` (Unix seconds), `x0 … x{d−1}` (4 decimals),
/// `task1`, `task2` (0/1, or the response with 4 decimals for regression).
///
/// Events arrive in time order: row `i` gets `timestamp = 1,600,000,000 + 10·i + U{0…9}` and a
/// user drawn with probability ∝ activity_u = exp(1.5·N(0, 1)) (log-normal, heavy-tailed: with
/// the defaults ~1,000 users expect ≤ 5 rows and ~700 expect > 100). Each file keeps that order.
/// Each user's rows are split chronologically by ``SyntheticConfig/split``.
public enum SyntheticDataset {
    /// First timestamp of a generated log (2020-09-13).
    public static let startTime = 1_600_000_000

    /// Generates the log and writes the three CSV files and `config.yaml` into `directory`
    /// (created when missing; each file written atomically).
    /// - Complexity: O(rows · d) time; O(rows + users · d) memory.
    /// - Throws: ``DatasetError/writeFailed(file:reason:)``.
    @discardableResult
    public static func write(
        _ config: SyntheticConfig, to directory: String,
        progress: ((DatasetProgress) -> Void)? = nil
    ) throws -> DatasetSummary {
        let generator = SyntheticGenerator(config)
        let d = config.features
        let users = drawUsers(config)
        var rowsOfUser = [Int32](repeating: 0, count: config.users)
        for u in users { rowsOfUser[Int(u)] += 1 }
        let weights = (0..<config.users).map { rowsOfUser[$0] > 0 ? generator.userWeights(user: $0) : [] }

        let features = (0..<d).map { "x\($0)" }
        let output = try DatasetOutput<Int32>(
            directory: directory, header: ["user_id", "timestamp"] + features + ["task1", "task2"], labelCount: 2)
        var rng = SeededRandom(seed: SyntheticGenerator.streamSeed(config.seed, .rows))
        var seen = [Int32](repeating: 0, count: config.users)
        var x = [Double](repeating: 0, count: d)
        var labels = [0.0, 0.0]
        let step = max(1, config.rows / 20)
        for i in 0..<config.rows {
            let u = Int(users[i])
            let timestamp = startTime + 10 * i + Int(rng.next() % 10)
            generator.input(using: &rng, into: &x)
            for k in 0..<2 {
                let y = generator.response(weights: weights[u][k], input: x) + SyntheticConfig.noiseStandardDeviation * rng.normal()
                labels[k] = switch config.labelKind {
                case .binary: y > generator.thresholds[k] ? 1 : 0
                case .regression: CSVWriter.roundedForOutput(y, decimals: SyntheticConfig.decimals)
                }
            }
            let split = config.split.split(rank: Int(seen[u]), of: Int(rowsOfUser[u]))
            seen[u] += 1
            let writer = output.writer(split)
            writer.writeField(u + 1)
            writer.writeField(timestamp)
            for value in x { writer.writeField(value, decimals: SyntheticConfig.decimals) }
            for value in labels {
                switch config.labelKind {
                case .binary: writer.writeField(Int(value))
                case .regression: writer.writeField(value, decimals: SyntheticConfig.decimals)
                }
            }
            try output.record(split, task: Int32(u), labels: labels)
            if (i + 1) % step == 0 { progress?(DatasetProgress(stage: "writing rows", done: i + 1, total: config.rows)) }
        }

        var datasetConfig = DatasetConfig(
            taskKey: "user_id", time: "timestamp",
            features: [.init("user_id", .categorical)] + features.map { .init($0, .numeric(.none)) },
            labels: [.init("task1", config.labelKind), .init("task2", config.labelKind)])
        datasetConfig.seed = config.seed
        return try output.finish(config: datasetConfig)
    }

    /// The user (0-based) of every row, drawn from the log-normal activity distribution.
    static func drawUsers(_ config: SyntheticConfig) -> [Int32] {
        var rng = SeededRandom(seed: SyntheticGenerator.streamSeed(config.seed, .activity))
        var cumulative = [Double](repeating: 0, count: config.users)
        var total = 0.0
        for u in 0..<config.users {
            total += exp(SyntheticConfig.activitySpread * rng.normal())
            cumulative[u] = total
        }
        return (0..<config.rows).map { _ in
            let target = rng.nextDouble() * total
            var lower = 0
            var upper = config.users - 1
            while lower < upper {  // first u with cumulative[u] > target
                let mid = (lower + upper) / 2
                if cumulative[mid] > target { upper = mid } else { lower = mid + 1 }
            }
            return Int32(lower)
        }
    }
}
