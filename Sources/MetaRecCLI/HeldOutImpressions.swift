import Foundation
import MetaTrain
import Serving

/// The impressions a user had after the ranker's training rows and before a point in time,
/// replayed as `POST /v1/events` would send them, so that a recommendation fine-tunes on the
/// user's latest rows (the support store starts with each user's newest training rows).
///
/// ```
/// clicks(u)   = u's clicked impressions of all three files, by (time, item id): ratings.csv's order
/// cutoff(u,j) = time of clicks(u)[count − j]   (j = 5: the first test target; 10: the first validation target)
/// events      = u's validation.csv and test.csv impressions with time < cutoff(u, j), not sent before, in time order
/// ```
/// Strictly earlier only: no impression of the step holding a held-out click reaches the ranker.
struct HeldOutImpressions {
    private var rows: [String: [(time: Int, event: [String: FeatureValue])]] = [:]
    private var clickTimes: [String: [(time: Int, item: Int)]] = [:]
    private var sent: [String: Int] = [:]

    /// Reads the catalogue log's three ranker files in `directory`.
    init(directory: String) throws {
        for file in ["train", "validation", "test"] {
            let path = "\(directory)/\(file).csv"
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw DatasetError.missingFile(path: path) }
            for (number, line) in text.split(separator: "\n").enumerated().dropFirst() {
                let f = line.split(separator: ",", omittingEmptySubsequences: false)
                guard f.count == 6, let time = Int(f[1]), let item = Int(f[2]), let click = Int(f[4]), let like = Int(f[5]) else {
                    throw DatasetError.malformedLine(file: path, line: number + 1, reason: "expected user_id,timestamp,item_id,genre,click,like")
                }
                let user = String(f[0])
                if click == 1 { clickTimes[user, default: []].append((time, item)) }
                guard file != "train" else { continue }
                rows[user, default: []].append((time, ["user_id": .string(user), "timestamp": .integer(Int64(time)),
                                                       "item_id": .string(String(item)), "genre": .string(String(f[3])),
                                                       "click": .integer(Int64(click)), "like": .integer(Int64(like))]))
            }
        }
        for user in clickTimes.keys { clickTimes[user]!.sort { ($0.time, $0.item) < ($1.time, $1.item) } }
        for user in rows.keys { rows[user]!.sort { $0.time < $1.time } }
    }

    /// `user`'s unsent impressions strictly before their `fromEnd`-th last click, as events, in
    /// time order; marks them sent. Empty for an unknown user or one with fewer clicks.
    mutating func take(user: String, beforeClickFromEnd fromEnd: Int) -> [[String: FeatureValue]] {
        guard let clicks = clickTimes[user], clicks.count >= fromEnd, let all = rows[user] else { return [] }
        let cutoff = clicks[clicks.count - fromEnd].time
        let first = sent[user, default: 0]
        var end = first
        while end < all.count && all[end].time < cutoff { end += 1 }
        sent[user] = end
        return all[first..<end].map(\.event)
    }

    /// ``take(user:beforeClickFromEnd:)`` sent to `predictor` (its support store).
    /// - Returns: the events sent.
    mutating func replay(user: String, beforeClickFromEnd fromEnd: Int, to predictor: Predictor) throws -> Int {
        let events = take(user: user, beforeClickFromEnd: fromEnd)
        return events.isEmpty ? 0 : try predictor.record(events: EventsRequest(events: events))
    }
}
