import Foundation
import TensorCore

/// Users' item sequences in time order and the catalogue's content features, read from a
/// MovieLens `ratings.csv` (`userId,movieId,rating,timestamp`) and `movies.csv`
/// (`movieId,title,genres`, genres `|`-separated, the last field).
///
/// Every rating is an interaction (implicit feedback: a rated movie was watched, whatever the
/// stars). A user's items are ordered by timestamp, equal timestamps by movie id.
public struct InteractionLog: Sendable {
    /// The catalogue: external item ids (movieId), row `i` is catalogue index `i`.
    public let itemIDs: [Int]
    /// Genre names, the columns of ``features``.
    public let genres: [String]
    /// `(N, G)`: each item's genres as a multi-hot row scaled to unit length (0 when it has none).
    public let features: Tensor
    /// External user ids, in ascending order.
    public let userIDs: [Int]
    /// Each user's catalogue indices in time order (parallel to ``userIDs``).
    public let sequences: [[Int32]]

    /// Builds a log from parts (tests, synthetic data).
    public init(itemIDs: [Int], genres: [String], features: Tensor, userIDs: [Int], sequences: [[Int32]]) {
        precondition(features.shape == [itemIDs.count, genres.count] && userIDs.count == sequences.count,
                     "InteractionLog: features \(features.shape) for \(itemIDs.count) items, \(genres.count) genres")
        (self.itemIDs, self.genres, self.features, self.userIDs, self.sequences) = (itemIDs, genres, features, userIDs, sequences)
    }

    /// Reads `directory/movies.csv` and `directory/ratings.csv`.
    /// - Throws: ``RetrievalError/malformedData(file:line:reason:)`` naming the file and line.
    public static func readMovieLens(directory: String) throws(RetrievalError) -> InteractionLog {
        let (itemIDs, genreLists) = try readMovies(directory + "/movies.csv")
        let genres = Array(Set(genreLists.joined())).filter { $0 != "(no genres listed)" }.sorted()
        let column = Dictionary(uniqueKeysWithValues: genres.enumerated().map { ($1, $0) })
        var features = Tensor(shape: [itemIDs.count, genres.count])
        for (i, list) in genreLists.enumerated() {
            let cols = list.compactMap { column[$0] }
            for c in cols { features.scalars[i * genres.count + c] = 1 / Float(cols.count).squareRoot() }
        }
        let index = Dictionary(uniqueKeysWithValues: itemIDs.enumerated().map { ($1, Int32($0)) })
        let path = directory + "/ratings.csv"
        var events: [Int: [(time: Int, item: Int32)]] = [:]
        for (number, fields) in try csvLines(path) {
            guard fields.count >= 4, let user = Int(fields[0]), let movie = Int(fields[1]), let time = Int(fields[3]) else {
                throw .malformedData(file: path, line: number, reason: "expected userId,movieId,rating,timestamp")
            }
            guard let item = index[movie] else {
                throw .malformedData(file: path, line: number, reason: "movie \(movie) is not in movies.csv")
            }
            events[user, default: []].append((time, item))
        }
        let users = events.keys.sorted()
        let sequences = users.map { u in
            events[u]!.sorted { ($0.time, $0.item) < ($1.time, $1.item) }.map(\.item)
        }
        return InteractionLog(itemIDs: itemIDs, genres: genres, features: features, userIDs: users, sequences: sequences)
    }

    /// `movieId` and the genre list of each line of movies.csv (the title may hold quoted commas;
    /// the genres are the last field).
    private static func readMovies(_ path: String) throws(RetrievalError) -> ([Int], [[String]]) {
        var ids: [Int] = [], genres: [[String]] = []
        for (number, line) in try rawLines(path) {
            guard let comma = line.firstIndex(of: ","), let last = line.lastIndex(of: ","),
                  let id = Int(line[line.startIndex..<comma]) else {
                throw .malformedData(file: path, line: number, reason: "expected movieId,title,genres")
            }
            ids.append(id)
            genres.append(line[line.index(after: last)...].split(separator: "|").map(String.init))
        }
        return (ids, genres)
    }

    /// The data lines of a CSV file with a header, split on commas (no quoting).
    private static func csvLines(_ path: String) throws(RetrievalError) -> [(Int, [Substring])] {
        try rawLines(path).map { ($0.0, $0.1.split(separator: ",", omittingEmptySubsequences: false)) }
    }

    /// `(line number, text)` of every non-empty line after the header; CRLF or LF.
    private static func rawLines(_ path: String) throws(RetrievalError) -> [(Int, Substring)] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .malformedData(file: path, line: 0, reason: "cannot read: \(error.localizedDescription)")
        }
        var out: [(Int, Substring)] = []
        // "\r\n" is one Character (a grapheme cluster) in Swift, and a newline.
        for (i, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() where i > 0 {
            if !line.isEmpty { out.append((i + 1, line)) }
        }
        return out
    }
}
