extension MovieLensData {
    /// Reads the files of `layout` in `directory`.
    /// - Throws: ``DatasetError`` naming the file and line of the first problem.
    static func read(
        directory: String, layout: MovieLensLayout, progress: ((DatasetProgress) -> Void)?
    ) throws -> MovieLensData {
        var data = MovieLensData(layout: layout)
        let files = layout.files
        try data.readRatings("\(directory)/\(files.ratings)", progress: progress)
        switch layout {
        case .latest: try data.readLatestMovies("\(directory)/\(files.items)")
        case .ml100k: try data.read100kItems("\(directory)/\(files.items)", genreFile: "\(directory)/u.genre")
        case .ml1m: try data.read1mMovies("\(directory)/\(files.items)")
        }
        if let users = files.users { try data.readUsers("\(directory)/\(users)") }
        return data
    }

    private var separator: [UInt8] {
        switch layout {
        case .latest: [44]                 // ,
        case .ml100k: [9]                  // tab (u.data); u.item and u.user use |
        case .ml1m: [58, 58]               // ::
        }
    }

    private mutating func readRatings(_ path: String, progress: ((DatasetProgress) -> Void)?) throws {
        var ranges: [Range<Int>] = []
        let separator = separator
        let hasHeader = layout == .latest
        try LineReader.forEachLine(in: path) { line, lineNumber in
            if hasHeader && lineNumber == 1 {
                guard ByteFields.text(line, 0..<line.count) == "userId,movieId,rating,timestamp" else {
                    throw DatasetError.malformedLine(
                        file: path, line: 1, reason: "expected the header 'userId,movieId,rating,timestamp'")
                }
                return
            }
            if line.isEmpty { return }
            ByteFields.split(line, separator: separator, into: &ranges)
            guard ranges.count == 4 else {
                throw DatasetError.malformedLine(file: path, line: lineNumber, reason: "expected 4 fields (user, item, rating, timestamp), found \(ranges.count)")
            }
            guard let user = ByteFields.integer(line, ranges[0]), let item = ByteFields.integer(line, ranges[1]) else {
                throw DatasetError.malformedLine(file: path, line: lineNumber, reason: "user and item ids must be integers")
            }
            guard let rating = ByteFields.number(line, ranges[2]), (0...10).contains(rating) else {
                throw DatasetError.malformedLine(
                    file: path, line: lineNumber, reason: "rating '\(ByteFields.text(line, ranges[2]))' is not a number in 0...10")
            }
            // Timestamps pack into a 64-bit sort key with the row index (see MovieLensDataset).
            guard let timestamp = ByteFields.integer(line, ranges[3]), (0..<(1 << 32)).contains(timestamp) else {
                throw DatasetError.malformedLine(
                    file: path, line: lineNumber, reason: "timestamp '\(ByteFields.text(line, ranges[3]))' is not Unix seconds in 0..<2^32")
            }
            ratings.append(Rating(user: user, item: item, rating: rating, timestamp: timestamp))
            if ratings.count % 200_000 == 0 {
                progress?(DatasetProgress(stage: "reading \(path)", done: ratings.count, total: nil))
            }
        }
    }

    /// `movies.csv`: movieId,title,genres with RFC 4180 quoting.
    private mutating func readLatestMovies(_ path: String) throws {
        var reason = ""
        try LineReader.forEachLine(in: path) { line, lineNumber in
            if lineNumber == 1 {
                guard ByteFields.text(line, 0..<line.count) == "movieId,title,genres" else {
                    throw DatasetError.malformedLine(file: path, line: 1, reason: "expected the header 'movieId,title,genres'")
                }
                return
            }
            if line.isEmpty { return }
            guard let fields = ByteFields.quotedFields(line, reason: &reason) else {
                throw DatasetError.malformedLine(file: path, line: lineNumber, reason: reason)
            }
            guard fields.count == 3, let id = Int(fields[0]) else {
                throw DatasetError.malformedLine(file: path, line: lineNumber, reason: "expected movieId,title,genres with an integer id")
            }
            items[id] = Item(title: fields[1], genres: fields[2])
        }
    }

    /// `u.item`: id|title|release|video release|IMDb URL|19 genre flags (0/1).
    private mutating func read100kItems(_ path: String, genreFile: String) throws {
        let genres = try Self.read100kGenres(genreFile) ?? Self.ml100kGenres
        var ranges: [Range<Int>] = []
        try LineReader.forEachLine(in: path) { line, lineNumber in
            if line.isEmpty { return }
            ByteFields.split(line, separator: [124], into: &ranges)
            guard ranges.count >= 5 + genres.count, let id = ByteFields.integer(line, ranges[0]) else {
                throw DatasetError.malformedLine(
                    file: path, line: lineNumber,
                    reason: "expected id|title|release|video release|url and \(genres.count) genre flags, found \(ranges.count) fields")
            }
            var names: [String] = []
            for (g, range) in ranges.suffix(genres.count).enumerated() {
                switch ByteFields.integer(line, range) {
                case 1: names.append(genres[g])
                case 0: break
                default:
                    throw DatasetError.malformedLine(file: path, line: lineNumber, reason: "genre flag \(g + 1) must be 0 or 1")
                }
            }
            items[id] = Item(title: ByteFields.text(line, ranges[1]), genres: names.joined(separator: "|"))
        }
    }

    /// `u.genre`: name|index lines; `nil` when the file is absent.
    private static func read100kGenres(_ path: String) throws -> [String]? {
        var genres: [(Int, String)] = []
        var ranges: [Range<Int>] = []
        do {
            try LineReader.forEachLine(in: path) { line, lineNumber in
                if line.isEmpty { return }
                ByteFields.split(line, separator: [124], into: &ranges)
                guard ranges.count == 2, let index = ByteFields.integer(line, ranges[1]) else {
                    throw DatasetError.malformedLine(file: path, line: lineNumber, reason: "expected name|index")
                }
                genres.append((index, ByteFields.text(line, ranges[0])))
            }
        } catch DatasetError.missingFile {
            return nil
        }
        guard genres.map(\.0).sorted() == Array(0..<genres.count) else {
            throw DatasetError.malformedLine(file: path, line: 1, reason: "genre indices must be 0…\(genres.count - 1)")
        }
        return genres.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// `movies.dat`: MovieID::Title::Genres (genres `|`-separated).
    private mutating func read1mMovies(_ path: String) throws {
        var ranges: [Range<Int>] = []
        try LineReader.forEachLine(in: path) { line, lineNumber in
            if line.isEmpty { return }
            ByteFields.split(line, separator: [58, 58], into: &ranges)
            guard ranges.count == 3, let id = ByteFields.integer(line, ranges[0]) else {
                throw DatasetError.malformedLine(file: path, line: lineNumber, reason: "expected MovieID::Title::Genres with an integer id")
            }
            items[id] = Item(title: ByteFields.text(line, ranges[1]), genres: ByteFields.text(line, ranges[2]))
        }
    }

    /// `u.user` (id|age|gender|occupation|zip) or `users.dat` (id::gender::age::occupation::zip).
    private mutating func readUsers(_ path: String) throws {
        var ranges: [Range<Int>] = []
        var table: [Int: User] = [:]
        let is100k = layout == .ml100k
        try LineReader.forEachLine(in: path) { line, lineNumber in
            if line.isEmpty { return }
            ByteFields.split(line, separator: is100k ? [124] : [58, 58], into: &ranges)
            guard ranges.count == 5, let id = ByteFields.integer(line, ranges[0]) else {
                throw DatasetError.malformedLine(
                    file: path, line: lineNumber,
                    reason: is100k ? "expected user|age|gender|occupation|zip" : "expected UserID::Gender::Age::Occupation::Zip-code")
            }
            let (age, gender) = is100k ? (ranges[1], ranges[2]) : (ranges[2], ranges[1])
            table[id] = User(
                gender: ByteFields.text(line, gender), age: ByteFields.text(line, age),
                occupation: ByteFields.text(line, ranges[3]))
        }
        users = table
    }
}
