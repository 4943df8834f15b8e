extension MovieLensDataset {
    /// Reads `raw` and writes the user-cold protocol (``UserColdFolds``) into `directory`:
    ///
    /// ```
    /// DIR/folds.csv                       user_id,fold,rows      (every user, sorted by id)
    /// DIR/fold-i/train.csv                every row of the training folds' users, global time order
    /// DIR/fold-i/validation.csv           fold (i+1) mod K's users, + column role (support|query)
    /// DIR/fold-i/test.csv                 fold i's users,           + column role
    /// DIR/fold-i/config.yaml              the warm split's config (the role column is not in it)
    /// ```
    /// Held-out files list each user's rows together (users by ascending id), each user's rows
    /// by (timestamp, order in the ratings file); the last `Q` are `query`, the earlier ones
    /// `support`. Users with `≤ Q` rows are left out of held-out files (counted in
    /// ``UserColdSummary/skippedUsers``). `train.csv` has the warm split's columns; the readers
    /// ignore columns the config does not name, so the extra `role` column of the held-out files
    /// does not disturb `metarec train --validation` or `metarec eval`.
    /// - Complexity: O(n log n + K·n) for n ratings, all held in memory.
    /// - Throws: ``DatasetError`` naming the file (and line) of the first problem.
    @discardableResult
    public static func writeUserCold(
        raw: String, to directory: String, folds protocolFolds: UserColdFolds = .standard,
        progress: ((DatasetProgress) -> Void)? = nil
    ) throws -> UserColdSummary {
        let data = try readRatings(raw: raw, progress: progress)
        let ratings = data.ratings
        let order = chronologicalOrder(ratings)
        // Each user's rows in rank order (walking the global time order visits them so).
        var rowsOfUser: [Int: [Int]] = [:]
        for index in order { rowsOfUser[ratings[index].user, default: []].append(index) }
        let users = rowsOfUser.keys.sorted()
        let foldOfUser = Dictionary(uniqueKeysWithValues: users.map { ($0, protocolFolds.fold(ofUser: $0)) })

        try DatasetFiles.createDirectory(directory)
        let foldsFile = try CSVWriter(path: "\(directory)/folds.csv")
        try foldsFile.writeHeader(["user_id", "fold", "rows"])
        for user in users {
            foldsFile.writeField(user)
            foldsFile.writeField(foldOfUser[user]!)
            foldsFile.writeField(rowsOfUser[user]!.count)
            try foldsFile.endRow()
        }
        try foldsFile.close()

        let header = header(of: data), config = config(of: data)
        let q = protocolFolds.queryRows
        var summaries: [DatasetSummary] = []
        var labels = [0.0, 0.0]
        for fold in 0..<protocolFolds.folds {
            progress?(DatasetProgress(stage: "writing fold \(fold)", done: fold, total: protocolFolds.folds))
            let output = try DatasetOutput<Int>(
                directory: "\(directory)/fold-\(fold)", header: header, labelCount: 2, heldOutColumns: [HeldOutRole.columnName])
            for index in order where protocolFolds.split(userFold: foldOfUser[ratings[index].user]!, testFold: fold) == .train {
                writeFields(of: ratings[index], data: data, to: output.writer(.train), labels: &labels)
                try output.record(.train, task: ratings[index].user, labels: labels)
            }
            for user in users {
                let split = protocolFolds.split(userFold: foldOfUser[user]!, testFold: fold)
                let rows = rowsOfUser[user]!
                guard split != .train, rows.count > q else { continue }
                let writer = output.writer(split)
                for (rank, index) in rows.enumerated() {
                    writeFields(of: ratings[index], data: data, to: writer, labels: &labels)
                    writer.writeField(protocolFolds.role(rank: rank, of: rows.count)!.rawValue)
                    try output.record(split, task: user, labels: labels)
                }
            }
            summaries.append(try output.finish(config: config))
        }
        var perFold = [Int](repeating: 0, count: protocolFolds.folds)
        for user in users { perFold[foldOfUser[user]!] += 1 }
        return UserColdSummary(
            directory: directory, folds: protocolFolds, foldSummaries: summaries, usersPerFold: perFold,
            skippedUsers: users.count(where: { rowsOfUser[$0]!.count <= q }))
    }
}

/// What ``MovieLensDataset/writeUserCold(raw:to:folds:progress:)`` wrote.
public struct UserColdSummary: Sendable, Equatable {
    /// Output directory (holding `folds.csv` and `fold-0 … fold-{K−1}`).
    public let directory: String
    /// The protocol.
    public let folds: UserColdFolds
    /// Per fold `i`: its train / validation / test files (``DatasetSummary/directory`` is `DIR/fold-i`).
    public let foldSummaries: [DatasetSummary]
    /// Users assigned to each fold (including skipped ones).
    public let usersPerFold: [Int]
    /// Users with `≤ Q` rows: never held out (no support row would remain), trained on in the
    /// folds where they are training users.
    public let skippedUsers: Int
}
