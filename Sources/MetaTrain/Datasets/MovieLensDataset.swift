/// `metarec datasets movielens`: converts a MovieLens directory (ml-latest-small / ml-latest,
/// ml-100k or ml-1m; see ``MovieLensLayout``) into a two-task log.
///
/// Columns: `user_id`, `item_id`, `title` (UTF-8; not a feature), `genres` (`|`-separated),
/// `timestamp`, then `gender`, `age`, `occupation` when the layout has demographics
/// (ml-100k: exact age and occupation name; ml-1m: age-group and occupation codes), then
/// ```
/// like   = 1[rating ≥ 4]    binary
/// rating = raw rating        regression (half stars in ml-latest)
/// ```
/// Split: chronological per user (``ChronologicalSplit``; rows ranked by timestamp, ties by
/// their order in the ratings file). Each file lists its rows in global time order (same ties).
/// A rated item missing from the items file gets an empty title and no genres.
public enum MovieLensDataset {
    /// Reads `raw` and writes `train.csv`, `validation.csv`, `test.csv`, `config.yaml` into
    /// `directory` (created when missing; each file written atomically).
    /// - Complexity: O(n log n) for n ratings, all held in memory (~40 bytes a rating).
    /// - Throws: ``DatasetError`` naming the file (and line) of the first problem.
    @discardableResult
    public static func write(
        raw: String, to directory: String, split: ChronologicalSplit = .standard,
        progress: ((DatasetProgress) -> Void)? = nil
    ) throws -> DatasetSummary {
        let data = try readRatings(raw: raw, progress: progress)
        let ratings = data.ratings
        let order = chronologicalOrder(ratings)
        let splits = assignSplits(ratings, order: order, split: split)

        let output = try DatasetOutput<Int>(directory: directory, header: header(of: data), labelCount: 2)
        var labels = [0.0, 0.0]
        let step = max(1, ratings.count / 10)
        for (written, index) in order.enumerated() {
            let destination = splits[index]
            writeFields(of: ratings[index], data: data, to: output.writer(destination), labels: &labels)
            try output.record(destination, task: ratings[index].user, labels: labels)
            if (written + 1) % step == 0 {
                progress?(DatasetProgress(stage: "writing rows", done: written + 1, total: ratings.count))
            }
        }
        return try output.finish(config: config(of: data))
    }

    /// The columns written: `user_id, item_id, title, genres, timestamp`, the demographics when
    /// the layout has them, `like, rating`.
    static func header(of data: MovieLensData) -> [String] {
        var header = ["user_id", "item_id", "title", "genres", "timestamp"]
        if data.users != nil { header += ["gender", "age", "occupation"] }
        return header + ["like", "rating"]
    }

    /// Writes the fields of rating `r` (the row is ended by the caller); `labels` ← (like, rating).
    static func writeFields(of r: MovieLensData.Rating, data: MovieLensData, to writer: CSVWriter, labels: inout [Double]) {
        let item = data.items[r.item] ?? MovieLensData.Item(title: "", genres: "")
        writer.writeField(r.user)
        writer.writeField(r.item)
        writer.writeField(item.title)
        writer.writeField(item.genres)
        writer.writeField(r.timestamp)
        if let users = data.users {
            let user = users[r.user] ?? MovieLensData.User(gender: "", age: "", occupation: "")
            writer.writeField(user.gender)
            writer.writeField(user.age)
            writer.writeField(user.occupation)
        }
        labels[0] = r.rating >= 4 ? 1 : 0
        labels[1] = r.rating
        writer.writeField(Int(labels[0]))
        writer.writeField(r.rating, decimals: 1)
    }

    /// The `config.yaml` of a MovieLens log: task key `user_id`, time `timestamp`, labels `like`, `rating`.
    static func config(of data: MovieLensData) -> DatasetConfig {
        var features: [DatasetConfig.Feature] = [
            .init("user_id", .categorical), .init("item_id", .categorical),
            .init("genres", .multiCategorical(separator: "|", pooling: .mean)),
        ]
        if data.users != nil { features += ["gender", "age", "occupation"].map { .init($0, .categorical) } }
        return DatasetConfig(
            taskKey: "user_id", time: "timestamp", features: features,
            labels: [.init("like", .binary), .init("rating", .regression)])
    }

    /// The raw ratings (ml-latest-small, ml-100k or ml-1m), at least one.
    static func readRatings(raw: String, progress: ((DatasetProgress) -> Void)?) throws -> MovieLensData {
        let layout = try MovieLensLayout.detect(in: raw)
        let data = try MovieLensData.read(directory: raw, layout: layout, progress: progress)
        guard !data.ratings.isEmpty else {
            throw DatasetError.malformedLine(file: "\(raw)/\(layout.files.ratings)", line: 1, reason: "no ratings")
        }
        return data
    }

    /// Row indices sorted by (timestamp, index). Timestamps are < 2³² (checked on reading), so
    /// one UInt64 key `timestamp << 32 | index` sorts both at once.
    static func chronologicalOrder(_ ratings: [MovieLensData.Rating]) -> [Int] {
        precondition(ratings.count < 1 << 32, "chronologicalOrder: \(ratings.count) ratings exceed 2^32")
        var keys = ratings.indices.map { UInt64(ratings[$0].timestamp) << 32 | UInt64($0) }
        keys.sort()
        return keys.map { Int($0 & 0xFFFF_FFFF) }
    }

    /// Each rating's split: walking the global time order visits every user's rows in rank order.
    static func assignSplits(_ ratings: [MovieLensData.Rating], order: [Int], split: ChronologicalSplit) -> [DatasetSplit] {
        var total: [Int: Int] = [:]
        for r in ratings { total[r.user, default: 0] += 1 }
        var seen: [Int: Int] = [:]
        var result = [DatasetSplit](repeating: .train, count: ratings.count)
        for index in order {
            let user = ratings[index].user
            let rank = seen[user, default: 0]
            seen[user] = rank + 1
            result[index] = split.split(rank: rank, of: total[user]!)
        }
        return result
    }
}
