/// `metarec datasets movielens-scenes`: MovieLens-100K as RecBole ships it (atomic files
/// `ml-100k.inter`, `ml-100k.user`, `ml-100k.item` of the `recbole==1.2.1` wheel, directory
/// `dataset_example/ml-100k/`) converted to the Scenario-Wise Rec benchmark's protocol:
///
/// ```
/// scene = age group of the user: under25 (age < 25), 25to34 (25 ≤ age ≤ 34), 35plus (age ≥ 35)
/// like  = 1[rating > 3]
/// split = random 8:1:1 over ratings (HashSplit on the .inter record index, seeded)
/// ```
/// Columns: `user_id`, `item_id`, `scene`, `gender`, `occupation`, `genres` (the item's `class`
/// tokens joined by `|`), `release_year`, `timestamp`, `like`. Config: task key `user_id`,
/// time `timestamp`, scene `scene`; `scene` is also a categorical feature (a plain MMoE sees
/// it), `age` itself is not written (the scene carries it).
///
/// Used only for this scene protocol: the warm and user-cold MovieLens protocols keep using
/// ``MovieLensDataset``.
public enum MovieLensScenesDataset {
    /// The three scenes, in age order.
    public static let scenes = ["under25", "25to34", "35plus"]

    /// The scene of a user of age `age`.
    public static func scene(age: Int) -> String {
        switch age {
        case ..<25: scenes[0]
        case 25...34: scenes[1]
        default: scenes[2]
        }
    }

    /// Converts the atomic files in `raw` and writes `train.csv`, `validation.csv`, `test.csv`
    /// and `config.yaml` into `directory`.
    /// - Throws: ``DatasetError`` for a missing file, a malformed record (a rating or age that
    ///   is not a number, a rating of an unknown user), or a failed write.
    @discardableResult
    public static func write(raw: String, to directory: String, seed: UInt64 = 1) throws -> DatasetSummary {
        let interPath = raw + "/ml-100k.inter", userPath = raw + "/ml-100k.user", itemPath = raw + "/ml-100k.item"
        let users = try readUsers(userPath)
        let genres = try readItems(itemPath)
        let inter = try RecBoleAtomicFile(path: interPath)
        let (u, i, r, t) = (try inter.column("user_id", file: interPath), try inter.column("item_id", file: interPath),
                            try inter.column("rating", file: interPath), try inter.column("timestamp", file: interPath))
        let split = try HashSplit(seed: seed, trainFraction: 0.8, validationFraction: 0.1)
        let header = ["user_id", "item_id", "scene", "gender", "occupation", "genres", "release_year", "timestamp", "like"]
        let output = try DatasetOutput<String>(directory: directory, header: header, labelCount: 1)
        for (index, record) in inter.records.enumerated() {
            guard let rating = Double(record[r]), let time = Double(record[t]) else {
                throw DatasetError.malformedLine(file: interPath, line: inter.lines[index], reason: "rating or timestamp is not a number")
            }
            guard let user = users[record[u]] else {
                throw DatasetError.malformedLine(file: interPath, line: inter.lines[index], reason: "user \(record[u]) is not in \(userPath)")
            }
            let item = genres[record[i]] ?? (genres: "", year: "")
            let like = rating > 3 ? 1.0 : 0.0
            let destination = split.split(row: index)
            let writer = output.writer(destination)
            for field in [record[u], record[i], user.scene, user.gender, user.occupation, item.genres, item.year] {
                writer.writeField(field)
            }
            writer.writeField(Int(time))
            writer.writeField(Int(like))
            try output.record(destination, task: record[u], labels: [like])
        }
        var config = DatasetConfig(
            taskKey: "user_id", time: "timestamp",
            features: ["user_id", "item_id", "scene", "gender", "occupation"].map { .init($0, .categorical) }
                + [.init("genres", .multiCategorical(separator: "|", pooling: .mean)), .init("release_year", .categorical)],
            labels: [.init("like", .binary)])
        config.scene = "scene"
        config.seed = seed
        return try output.finish(config: config)
    }

    /// User id → (scene, gender, occupation).
    static func readUsers(_ path: String) throws -> [String: (scene: String, gender: String, occupation: String)] {
        let file = try RecBoleAtomicFile(path: path)
        let (id, age, gender, occupation) = (try file.column("user_id", file: path), try file.column("age", file: path),
                                             try file.column("gender", file: path), try file.column("occupation", file: path))
        var out: [String: (scene: String, gender: String, occupation: String)] = [:]
        for (n, record) in file.records.enumerated() {
            guard let years = Int(record[age]) else {
                throw DatasetError.malformedLine(file: path, line: file.lines[n], reason: "age '\(record[age])' is not an integer")
            }
            out[record[id]] = (scene(age: years), record[gender], record[occupation])
        }
        return out
    }

    /// Item id → (genres joined by `|`, release year).
    static func readItems(_ path: String) throws -> [String: (genres: String, year: String)] {
        let file = try RecBoleAtomicFile(path: path)
        let (id, year, genre) = (try file.column("item_id", file: path), try file.column("release_year", file: path),
                                 try file.column("class", file: path))
        var out: [String: (genres: String, year: String)] = [:]
        for record in file.records {
            out[record[id]] = (record[genre].split(separator: " ").joined(separator: "|"), record[year])
        }
        return out
    }
}
