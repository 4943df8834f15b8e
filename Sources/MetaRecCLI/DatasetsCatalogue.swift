import ArgumentParser
import MetaTrain

/// `metarec datasets synthetic-catalogue`: users browsing a catalogue, written for the ranker
/// (impressions), the retrieval model (clicks, MovieLens layout) and `serve --catalogue`.
struct DatasetsSyntheticCatalogue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synthetic-catalogue",
        abstract: "Synthetic impressions, clicks and likes over a catalogue in genres, for recall → rank → serve.",
        discussion: """
            Writes the ranker's train.csv, validation.csv, test.csv and config.yaml (user_id, timestamp, item_id, genre; \
            labels click, like), the retrieval model's ratings.csv and movies.csv (MovieLens layout: \
            metarec retrieval train --data OUT) and items.csv (metarec serve --catalogue). \
            See CatalogueSyntheticGenerator for the ground truth.
            """)

    @Option(help: "Users (one session each).") var users = 2000
    @Option(help: "Catalogue size N.") var items = 2000
    @Option(help: "Genres (item clusters).") var genres = 20
    @Option(help: "Mean steps of a session (log-normal, at least 4).") var steps = 30
    @Option(help: "Items shown per step.") var impressions = 4
    @Option(help: "Clicks held out per user for validation and again for test (T); the ranker's rows split at them.") var heldOutClicks = 5
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Output directory (created if missing).") var out: String

    func run() async throws {
        try reportingErrors {
            let start = ContinuousClock.now
            let config = try CatalogueSyntheticConfig(users: users, items: items, genres: genres, meanSteps: steps,
                                                      impressionsPerStep: impressions, heldOutClicks: heldOutClicks, seed: seed)
            let summary = try CatalogueSyntheticDataset.write(config, to: out, progress: Datasets.progress())
            Datasets.report(summary, since: start)
            print("ratings.csv, movies.csv (retrieval: metarec retrieval train --data \(out)), items.csv (metarec serve --catalogue)")
        }
    }
}
