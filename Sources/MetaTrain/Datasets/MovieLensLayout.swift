import Foundation

/// The MovieLens releases the converter reads, recognised by the files in the directory.
public enum MovieLensLayout: String, Sendable, CaseIterable {
    /// `ratings.csv` (userId,movieId,rating,timestamp; CRLF in ml-latest-small), `movies.csv`
    /// (movieId,title,genres; quoted titles). No demographics.
    case latest = "ml-latest"
    /// `u.data` (tab-separated user item rating timestamp), `u.item` (`|`-separated, 19 genre
    /// flags; Latin-1 titles), `u.user` (user|age|gender|occupation|zip); `u.genre` optional.
    case ml100k = "ml-100k"
    /// `ratings.dat`, `movies.dat` (Latin-1 titles), `users.dat`, all `::`-separated.
    case ml1m = "ml-1m"

    /// The ratings, items and users files (users absent for ``latest``).
    public var files: (ratings: String, items: String, users: String?) {
        switch self {
        case .latest: ("ratings.csv", "movies.csv", nil)
        case .ml100k: ("u.data", "u.item", "u.user")
        case .ml1m: ("ratings.dat", "movies.dat", "users.dat")
        }
    }

    /// The layout of `directory`, chosen by its ratings file; the layout's other files must exist.
    /// - Throws: ``DatasetError/missingFile(path:)`` for a missing directory or companion file,
    ///   ``DatasetError/unrecognizedLayout(directory:reason:)`` when no ratings file is found.
    public static func detect(in directory: String) throws -> MovieLensLayout {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DatasetError.missingFile(path: directory)
        }
        guard let layout = allCases.first(where: { manager.fileExists(atPath: "\(directory)/\($0.files.ratings)") }) else {
            let present = ((try? manager.contentsOfDirectory(atPath: directory)) ?? []).sorted().prefix(8)
            throw DatasetError.unrecognizedLayout(
                directory: directory,
                reason: "expected ratings.csv + movies.csv (ml-latest), u.data + u.item + u.user (ml-100k) or "
                    + "ratings.dat + movies.dat + users.dat (ml-1m); found \(present.isEmpty ? "no files" : present.joined(separator: ", "))")
        }
        for file in [layout.files.items] + (layout.files.users.map { [$0] } ?? []) {
            let path = "\(directory)/\(file)"
            guard manager.fileExists(atPath: path) else { throw DatasetError.missingFile(path: path) }
        }
        return layout
    }
}

/// Ratings, items and users of one MovieLens directory, as read from its files.
struct MovieLensData {
    struct Rating {
        var user: Int
        var item: Int
        var rating: Double
        var timestamp: Int
    }

    struct Item {
        var title: String
        /// Genre names joined with `|`.
        var genres: String
    }

    struct User {
        var gender: String
        var age: String
        var occupation: String
    }

    var layout: MovieLensLayout
    var ratings: [Rating] = []
    var items: [Int: Item] = [:]
    /// `nil` when the layout has no demographics.
    var users: [Int: User]?

    /// The 19 genres of ml-100k's `u.item` flags, in flag order (as listed in `u.genre`).
    static let ml100kGenres = [
        "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
        "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
        "Thriller", "War", "Western",
    ]
}
