import ArgumentParser
import MetaTrain

/// `metarec datasets synthetic-scenes`: the multi-scene generator (skewed traffic, shared and
/// scene-private weights, per-scene label shifts; ground truth in OUT/scenes.csv).
struct DatasetsSyntheticScenes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synthetic-scenes",
        abstract: "Synthetic multi-scene data: Zipf traffic over N scenes, shared + scene-private weights, per-scene label shifts, tasks click and like.",
        discussion: "The ground truth is documented in Sources/MetaTrain/Datasets/README.md; OUT/scenes.csv lists each scene's share, users, label shifts and oracle test AUC.")

    @Option(help: "Scenes N.") var scenes = 10
    @Option(help: "Zipf exponent a of the scene traffic (π_s ∝ s^-a).") var zipf = 2.0
    @Option(help: "Users U, partitioned among the scenes by traffic (at least 10 per scene).") var users = 2000
    @Option(help: "Rows (events) to generate.") var rows = 200_000
    @Option(help: "Shared numeric features d (x0 …).") var sharedFeatures = 8
    @Option(help: "Scene numeric features m (z0 …), weights private to each scene.") var sceneFeatures = 4
    @Option(help: "Scale α of the scene-private term.") var sceneStrength = 1.0
    @Option(help: "Standard deviation σ_b of the per-scene label shift.") var biasSpread = 1.0
    @Option(help: "Standard deviation σ_u of the per-user offset.") var userSpread = 0.5
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Output directory (created if missing).") var out: String

    func run() async throws {
        try reportingErrors {
            let start = ContinuousClock.now
            let config = try SceneSyntheticConfig(
                scenes: scenes, zipfExponent: zipf, users: users, rows: rows, sharedFeatures: sharedFeatures,
                sceneFeatures: sceneFeatures, sceneStrength: sceneStrength, biasSpread: biasSpread, userSpread: userSpread, seed: seed)
            let summary = try SceneSyntheticDataset.write(config, to: out, progress: Datasets.progress())
            Datasets.report(summary, since: start)
        }
    }
}

/// `metarec datasets movielens-scenes`: MovieLens-100K from RecBole's atomic files, scenes = age groups.
struct DatasetsMovieLensScenes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "movielens-scenes",
        abstract: "MovieLens-100K (RecBole atomic files) with scenes = age groups {<25, 25-34, >=35}, label rating > 3, random 8:1:1 split.",
        discussion: "`make ml100k-scenes` downloads the recbole==1.2.1 wheel and unpacks dataset_example/ml-100k/ outside the repository.")

    @Option(help: "Directory holding ml-100k.inter, ml-100k.user and ml-100k.item.") var raw: String
    @Option(help: "Seed of the random 8:1:1 split.") var seed: UInt64 = 1
    @Option(help: "Output directory (created if missing).") var out: String

    func run() async throws {
        try reportingErrors {
            let start = ContinuousClock.now
            let summary = try MovieLensScenesDataset.write(raw: raw, to: out, seed: seed)
            Datasets.report(summary, since: start)
        }
    }
}
