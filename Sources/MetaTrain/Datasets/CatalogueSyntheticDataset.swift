import TensorCore

/// `metarec datasets synthetic-catalogue`: the log of ``CatalogueSyntheticGenerator`` written for
/// both stages of a recommendation:
///
/// | file | for | columns |
/// |---|---|---|
/// | `train.csv`, `validation.csv`, `test.csv`, `config.yaml` | the ranker (`metarec train`) | `user_id, timestamp, item_id, genre, click, like`: every impression |
/// | `ratings.csv`, `movies.csv` | the retrieval model (`metarec retrieval train --data`), in MovieLens' layout | clicks: `userId, movieId, rating (5 liked, 3 not), timestamp`; items: `movieId, title, genres` |
/// | `items.csv` | `metarec serve --catalogue` | `item_id, genre` |
///
/// Users and items are numbered from 1 in the files (user `u`, item `i` of the generator are
/// `u + 1`, `i + 1`). A user's session starts at a uniform time in the first 30 days after
/// ``SyntheticDataset/startTime``; step `t` is 60·t seconds later. The ranker files hold the
/// impressions in time order (ties by user, then shown order), each user's split at the same
/// clicks as the retrieval side's (``CatalogueSyntheticConfig/heldOutClicks`` `T`), so no held-out
/// click, nor anything shown at or after its step, is a training row:
///
/// ```
/// clicks c_1 … c_n of a user by (time, item id), as ratings.csv orders them;  n ≥ 2T + 2:
///   train: time < time(c_{n−2T+1})     validation: < time(c_{n−T+1})     test: the rest
/// n < 2T + 2 (no retrieval case): ``CatalogueSyntheticConfig/split`` by rows (70/10/20)
/// ```
public enum CatalogueSyntheticDataset {
    /// The genre name of genre `g` (`genre_<g+1>`).
    public static func genreName(_ g: Int) -> String { "genre_\(g + 1)" }

    /// Generates the log and writes every file into `directory` (created when missing; each file
    /// written atomically).
    /// - Complexity: O(users · steps · N · r) time (the organic choice is a softmax over the catalogue).
    /// - Throws: ``DatasetError/writeFailed(file:reason:)``.
    @discardableResult
    public static func write(_ config: CatalogueSyntheticConfig, to directory: String,
                             progress: ((DatasetProgress) -> Void)? = nil) throws -> DatasetSummary {
        let generator = CatalogueSyntheticGenerator(config)
        var rng = SeededRandom(seed: SyntheticGenerator.streamSeed(config.seed, .activity))
        struct Row { var time: Int, user: Int32, item: Int32, click: Bool, like: Bool, rank: Int32, of: Int32 }
        var rows: [Row] = []
        let step = max(1, config.users / 20)
        for u in 0..<config.users {
            let start = SyntheticDataset.startTime + Int(rng.next() % UInt64(30 * 86_400))
            let session = generator.session(user: u)
            for (rank, shown) in session.enumerated() {
                rows.append(Row(time: start + 60 * shown.step, user: Int32(u), item: Int32(shown.item), click: shown.click,
                                like: shown.like, rank: Int32(rank), of: Int32(session.count)))
            }
            if (u + 1) % step == 0 { progress?(DatasetProgress(stage: "generating sessions", done: u + 1, total: config.users)) }
        }
        rows.sort { ($0.time, $0.user, $0.rank) < ($1.time, $1.user, $1.rank) }
        let cuts = heldOutCuts(rows.lazy.map { (time: $0.time, user: $0.user, item: $0.item, click: $0.click) },
                               users: config.users, targets: config.heldOutClicks)

        let output = try DatasetOutput<Int32>(directory: directory, header: ["user_id", "timestamp", "item_id", "genre", "click", "like"],
                                              labelCount: 2)
        var ratings = "userId,movieId,rating,timestamp\n"
        for row in rows {
            let split = if let cut = cuts[Int(row.user)] {
                row.time < cut.validation ? DatasetSplit.train : row.time < cut.test ? .validation : .test
            } else {
                config.split.split(rank: Int(row.rank), of: Int(row.of))
            }
            let writer = output.writer(split)
            writer.writeField(Int(row.user) + 1)
            writer.writeField(row.time)
            writer.writeField(Int(row.item) + 1)
            writer.writeField(genreName(generator.itemGenre[Int(row.item)]))
            writer.writeField(row.click ? 1 : 0)
            writer.writeField(row.like ? 1 : 0)
            try output.record(split, task: row.user, labels: [row.click ? 1 : 0, row.like ? 1 : 0])
            if row.click { ratings += "\(row.user + 1),\(row.item + 1),\(row.like ? 5 : 3),\(row.time)\n" }
        }
        var movies = "movieId,title,genres\n", items = "item_id,genre\n"
        for (i, g) in generator.itemGenre.enumerated() {
            movies += "\(i + 1),Item \(i + 1),\(genreName(g))\n"
            items += "\(i + 1),\(genreName(g))\n"
        }
        try DatasetFiles.write(ratings, to: "\(directory)/ratings.csv")
        try DatasetFiles.write(movies, to: "\(directory)/movies.csv")
        try DatasetFiles.write(items, to: "\(directory)/items.csv")

        var datasetConfig = DatasetConfig(
            taskKey: "user_id", time: "timestamp",
            features: [.init("user_id", .categorical), .init("item_id", .categorical), .init("genre", .categorical)],
            labels: [.init("click", .binary), .init("like", .binary)])
        datasetConfig.seed = config.seed
        return try output.finish(config: datasetConfig)
    }

    /// Per user with at least `2·targets + 2` clicks, the times of their first validation click
    /// (`c_{n−2T+1}`) and first test click (`c_{n−T+1}`), clicks ordered by (time, item): the
    /// order of ``Retrieval``'s `InteractionLog`, so `NextItemSplit(targets: T)` holds out the same clicks.
    static func heldOutCuts<Rows: Sequence>(_ rows: Rows, users: Int, targets: Int) -> [(validation: Int, test: Int)?]
    where Rows.Element == (time: Int, user: Int32, item: Int32, click: Bool) {
        var clicks = [[(time: Int, item: Int32)]](repeating: [], count: users)
        for row in rows where row.click { clicks[Int(row.user)].append((row.time, row.item)) }
        return clicks.map { c in
            guard c.count >= 2 * targets + 2 else { return nil }
            let sorted = c.sorted { ($0.time, $0.item) < ($1.time, $1.item) }
            return (sorted[sorted.count - 2 * targets].time, sorted[sorted.count - targets].time)
        }
    }
}
