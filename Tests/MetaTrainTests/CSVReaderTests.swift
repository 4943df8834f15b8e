import Foundation
import ModelDescription
import ModelMath
import Testing
@testable import MetaTrain

@Suite struct CSVReaderTests {
    // MARK: Tokenizing

    @Test func `quoted fields hold delimiters, doubled quotes and line breaks`() throws {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        let path = dir.write("q.csv", "a,b,c\n\"x,1\",\"say \"\"hi\"\"\",\"two\nlines\"\nplain,\"\",end\n")
        #expect(try csvRecords(path) == [["a", "b", "c"], ["x,1", "say \"hi\"", "two\nlines"], ["plain", "", "end"]])
    }

    @Test func `CRLF, LF, a missing final newline and blank lines`() throws {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        let path = dir.write("crlf.csv", "a,b\r\n1,2\r\n\r\n3,\"4\"\r\n\n5,6")
        #expect(try csvRecords(path) == [["a", "b"], ["1", "2"], ["3", "4"], ["5", "6"]])
        let lone = dir.write("cr.csv", "a,b\n1\r2,3\n")
        #expect(try csvRecords(lone) == [["a", "b"], ["1\r2", "3"]])
    }

    @Test func `a byte-order mark is skipped`() throws {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        let path = dir.write("bom.csv", bytes: [0xEF, 0xBB, 0xBF] + Array("a,b\n1,2\n".utf8))
        #expect(try csvRecords(path) == [["a", "b"], ["1", "2"]])
    }

    @Test func `other delimiters and leading-space trimming`() throws {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        let tabs = dir.write("t.tsv", "a\tb\n1\t\"x\ty\"\n")
        #expect(try csvRecords(tabs, options: .init(delimiter: 0x09)) == [["a", "b"], ["1", "x\ty"]])
        let census = dir.write("c.csv", "age, workclass, income\n39, State-gov, \"<=50K\"\n")
        #expect(try csvRecords(census, options: .init(trimsLeadingSpaces: true))
                == [["age", "workclass", "income"], ["39", "State-gov", "<=50K"]])
    }

    @Test(arguments: [1, 2, 3, 5, 7, 16, 64])
    func `chunk boundaries anywhere give the same records`(chunkSize: Int) throws {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        let text = "user,ts,genres,age,like\r\n\"u,1\",10,\"a|\"\"b\"\"|c\",31.5,1\r\nu2,11,,\"\",0\nü3,12,\"multi\nline|x\",7,true\n"
        let path = dir.write("c.csv", text)
        let expected = try csvRecords(path, options: .init(chunkSize: 1 << 20))
        #expect(try csvRecords(path, options: .init(chunkSize: chunkSize)) == expected)
        #expect(expected.count == 4)
        let (small, _) = try csvReadAll(path, options: .init(chunkSize: chunkSize))
        let (large, _) = try csvReadAll(path)
        #expect(small == large)
    }

    @Test func `gzip input is detected by its magic bytes and decompressed`() throws {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        var text = "user,ts,genres,age,like\n"
        for i in 0..<5000 { text += "u\(i % 97),\(i),\"g\(i % 5)|g\(i % 7)\",\(i % 60),\(i % 2)\n" }
        let plain = dir.write("log.csv", text)
        let gz = dir.write("log.bin", bytes: Gzip.compress(Array(text.utf8)))  // no .gz suffix on purpose
        let (a, _) = try csvReadAll(plain, batchSize: 512)
        let (b, _) = try csvReadAll(gz, options: .init(chunkSize: 1000), batchSize: 512)
        #expect(a.count == 5000 && a == b)
        // Two concatenated members read as one stream (cat a.gz b.gz).
        let half = text.utf8.count / 2
        let bytes = Array(text.utf8)
        let two = dir.write("two.gz", bytes: Gzip.compress(Array(bytes[..<half])) + Gzip.compress(Array(bytes[half...])))
        let (c, _) = try csvReadAll(two, batchSize: 512)
        #expect(c == a)
        // The fingerprint is of the content, compressed or not.
        let p1 = try DataProfile.fit(path: plain, config: csvConfig)
        let p2 = try DataProfile.fit(path: gz, config: csvConfig)
        #expect(p1.fingerprint == p2.fingerprint && p1.rows == 5000)
    }

    @Test func `gzip files written by the gzip tool are read`() throws {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gzip") || FileManager.default.isExecutableFile(atPath: "/bin/gzip") else { return }
        let path = dir.write("t.csv", "user,ts,genres,age,like\nu1,1,a,2,1\n")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: FileManager.default.isExecutableFile(atPath: "/usr/bin/gzip") ? "/usr/bin/gzip" : "/bin/gzip")
        p.arguments = ["-k", path]
        try p.run()
        p.waitUntilExit()
        let (b, _) = try csvReadAll(path + ".gz")
        #expect(b.count == 1 && b.timestamps == [1])
    }

    @Test func `truncated gzip is an error, not a short file`() {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        var text = "user,ts,genres,age,like\n"
        for i in 0..<2000 { text += "u\(i),\(i),g,\(i),1\n" }
        let gz = Gzip.compress(Array(text.utf8))
        let path = dir.write("cut.gz", bytes: Array(gz.prefix(gz.count / 2)))
        #expect(csvReadError(path)?.hasPrefix("\(path): corrupt gzip stream: truncated") == true)
    }

    // MARK: Encoding through the reader

    @Test func `columns are mapped by header name, in any order, extra columns ignored`() throws {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        let path = dir.write("h.csv", "like,extra,age,genres,ts,user\n1,zzz,40,a|b,1700000000,u7\n")
        let (b, reader) = try csvReadAll(path)
        #expect(reader.header == ["like", "extra", "age", "genres", "ts", "user"])
        #expect(b.count == 1)
        #expect(b.categorical == [FeatureKey.hash(feature: "user", value: "u7")])
        #expect(b.taskKeys == b.categorical)
        #expect(b.multiCategorical[0].keys == [FeatureKey.hash(feature: "genres", value: "a"), FeatureKey.hash(feature: "genres", value: "b")])
        #expect(b.numeric == [40] && b.labels == [1] && b.timestamps == [1_700_000_000])
    }

    @Test func `batches have the requested size and the remainder last`() throws {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        var text = "user,ts,genres,age,like\n"
        for i in 0..<10 { text += "u\(i),\(i),g,\(i),1\n" }
        let reader = try CSVLogReader(path: dir.write("b.csv", text), encoder: csvEncoder)
        var sizes: [Int] = []
        while let b = try reader.nextBatch(maxRows: 4) { sizes.append(b.count) }
        #expect(sizes == [4, 4, 2])
        #expect(reader.rowCount == 10)
    }

    // MARK: Malformed input: exact file:line:column

    @Test func `missing column`() {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        let path = dir.write("m.csv", "user,ts,genres,like\nu1,1,a,1\n")
        #expect(csvReadError(path) == "\(path):1:1: missing column \"age\" (header: user,ts,genres,like)")
    }

    @Test func `non-numeric number`() {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        let path = dir.write("n.csv", "user,ts,genres,age,like\nu1,1,a,30,1\nu2,2,b,thirty,0\n")
        #expect(csvReadError(path) == "\(path):3:4: column \"age\": not a number: \"thirty\"")
    }

    @Test func `ragged rows: too many and too few fields`() {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        let long = dir.write("r1.csv", "user,ts,genres,age,like\nu1,1,a,30,1\nu2,2,b,30,0,extra\n")
        #expect(csvReadError(long) == "\(long):3:6: ragged row: 6 fields, the header has 5")
        let short = dir.write("r2.csv", "user,ts,genres,age,like\r\n\"multi\nline\",1,a,30,1\r\nu2,2,b\r\n")
        #expect(csvReadError(short) == "\(short):4:4: ragged row: 3 fields, the header has 5")
    }

    @Test func `unterminated quote reports where the quote opened`() {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        let path = dir.write("u.csv", "user,ts,genres,age,like\nu1,1,a,30,1\nu2,2,\"open|quote,30,1\nu3,3,c,30,1\n")
        #expect(csvReadError(path) == "\(path):3:3: unterminated quote: the quoted field opened here is still open at the end of the file")
        #expect(csvReadError(path, options: .init(chunkSize: 4)) == csvReadError(path))
    }

    @Test func `malformed quote`() {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        let path = dir.write("mq.csv", "user,ts,genres,age,like\nu1,1,\"a\"b,30,1\n")
        #expect(csvReadError(path) == "\(path):2:3: malformed quote: a closing quote must be followed by a delimiter or a line break")
    }

    @Test func `invalid UTF-8`() {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        let bytes = Array("user,ts,genres,age,like\nu1,1,a,30,1\n\"u\n2\",2,".utf8) + [0x61, 0xC3, 0x28] + Array(",30,0\n".utf8)
        let path = dir.write("bad.csv", bytes: bytes)
        #expect(csvReadError(path) == "\(path):4:3: invalid UTF-8")
        for bad: [UInt8] in [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82]] {
            let p = dir.write("b.csv", bytes: Array("user,ts,genres,age,like\nu1,1,".utf8) + bad + Array(",30,1\n".utf8))
            #expect(csvReadError(p) == "\(p):2:3: invalid UTF-8")
        }
        let good = dir.write("good.csv", "user,ts,genres,age,like\nü€😀,1,日本,30,1\n")
        #expect(csvReadError(good) == nil)
    }

    @Test func `a duplicated header column names both columns`() {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        // The duplicate is a column the config uses …
        let used = dir.write("d1.csv", "user,ts,age,genres,age,like\nu1,1,30,a,31,1\n")
        #expect(csvReadError(used) == "\(used):1:5: duplicate column \"age\" in the header (also column 3)")
        // … or one it does not (which of two the config means would be a guess either way).
        let unused = dir.write("d2.csv", "user,ts,genres,age,like,note,note\nu1,1,a,30,1,x,y\n")
        #expect(csvReadError(unused) == "\(unused):1:7: duplicate column \"note\" in the header (also column 6)")
        // The evaluation tables read headers the same way.
        #expect(throws: DataError.duplicateColumn(file: used, column: 5, name: "age", firstColumn: 3)) {
            _ = try CSVTable(path: used)
        }
    }

    @Test(arguments: [1, 3, 7, 8, 9, 64])
    func `a NUL byte in a field is refused at its line and column`(chunkSize: Int) {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        let options = CSVReadOptions(chunkSize: chunkSize)
        // Unquoted, in a later row (the word-at-a-time check sees it in any lane).
        let plain = dir.write("n1.csv", bytes: Array("user,ts,genres,age,like\nu1,1,a,30,1\nu2,2,ab".utf8) + [0] + Array("c,30,0\n".utf8))
        #expect(csvReadError(plain, options: options) == "\(plain):3:3: NUL byte in a field (a binary or UTF-16 file?)")
        // Inside a quoted field after a line break: the physical line of the byte.
        let quoted = dir.write("n2.csv", bytes: Array("user,ts,genres,age,like\nu1,1,\"a\n".utf8) + [0] + Array("\",30,1\n".utf8))
        #expect(csvReadError(quoted, options: options) == "\(quoted):3:3: NUL byte in a field (a binary or UTF-16 file?)")
        // In the header: a file-level error at line 1.
        let header = dir.write("n3.csv", bytes: Array("user,ts,gen".utf8) + [0] + Array("res,age,like\nu1,1,a,30,1\n".utf8))
        #expect(csvReadError(header, options: options) == "\(header):1:3: NUL byte in a field (a binary or UTF-16 file?)")
        // UTF-16 (every ASCII character followed by a NUL): refused at the first field.
        let utf16 = dir.write("n4.csv", bytes: Array("user,ts,genres,age,like\n".utf16).flatMap { [UInt8($0), 0] })
        #expect(csvReadError(utf16, options: options) == "\(utf16):1:1: NUL byte in a field (a binary or UTF-16 file?)")
    }

    @Test func `NUL rows count as bad rows under max_bad_rows`() throws {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        let path = dir.write("n5.csv", bytes: Array("user,ts,genres,age,like\nu1,1,a,30,1\nu2,2,b,3".utf8) + [0] + Array(",0\nu3,3,c,30,1\n".utf8))
        #expect(try csvReadAll(path, options: .init(maxBadRows: 1)).0.count == 2)
    }

    @Test func `empty file and header only`() {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        let empty = dir.write("e.csv", "")
        #expect(csvReadError(empty) == "\(empty):1:1: empty file: no header row")
        let blank = dir.write("blank.csv", "\n\r\n")
        #expect(csvReadError(blank) == "\(blank):1:1: empty file: no header row")
        let header = dir.write("h.csv", "user,ts,genres,age,like\n")
        #expect(csvReadError(header) == "\(header):2:1: header only: no data rows")
        let headerNoNewline = dir.write("h2.csv", "user,ts,genres,age,like")
        #expect(csvReadError(headerNoNewline) == "\(headerNoNewline):2:1: header only: no data rows")
    }

    @Test func `missing files are unreadable`() {
        #expect(csvReadError("/nonexistent/x.csv")?.hasPrefix("/nonexistent/x.csv: cannot read: ") == true)
    }

    @Test func `bad values in labels and timestamps name the column`() {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        let label = dir.write("l.csv", "user,ts,genres,age,like\nu1,1,a,30,2\n")
        #expect(csvReadError(label) == "\(label):2:5: column \"like\": not a binary label (0, 1, true, false): \"2\"")
        let time = dir.write("t.csv", "user,ts,genres,age,like\nu1,,a,30,1\n")
        #expect(csvReadError(time) == "\(time):2:2: column \"ts\": missing timestamp")
    }

    // MARK: Bad-row budget

    @Test func `max bad rows skips and counts, then fails`() throws {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        let text = "user,ts,genres,age,like\nu1,1,a,x,1\nu2,2,b,30,0\nu3,3,c\nu4,4,\"d\"e,30,1\nu5,5,e,31,1\n"
        let path = dir.write("bad.csv", text)
        let (b, reader) = try csvReadAll(path, options: .init(maxBadRows: 3))
        #expect(b.count == 2 && b.numeric == [30, 31])
        #expect(reader.badRowCount == 3 && reader.rowCount == 2)
        #expect(reader.badRowErrors.map(\.description) == [
            "\(path):2:4: column \"age\": not a number: \"x\"",
            "\(path):4:4: ragged row: 3 fields, the header has 5",
            "\(path):5:3: malformed quote: a closing quote must be followed by a delimiter or a line break",
        ])
        #expect(csvReadError(path, options: .init(maxBadRows: 2))
                == "\(path):5:3: malformed quote: a closing quote must be followed by a delimiter or a line break (more than max_bad_rows = 2 bad rows)")
        #expect(csvReadError(path) == "\(path):2:4: column \"age\": not a number: \"x\"")
        let profile = try DataProfile.fit(path: path, config: csvConfig, options: .init(maxBadRows: 3))
        #expect(profile.rows == 2 && profile.badRows == 3 && profile.fingerprint.rows == 5)
    }

    @Test func `a file whose only data row is bad is not header-only when skipping`() throws {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        let path = dir.write("one.csv", "user,ts,genres,age,like\nu1,1,a\n")
        let (b, reader) = try csvReadAll(path, options: .init(maxBadRows: 1))
        #expect(b.count == 0 && reader.badRowCount == 1)
    }

    // MARK: Memory and fitting

    @Test func `the buffer never exceeds chunk size plus the longest row`() throws {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        var text = "user,ts,genres,age,like\n"
        for i in 0..<20_000 {
            let genres = i == 7777 ? String(repeating: "g|", count: 3000) : "a|b"
            text += "u\(i),\(i),\"\(genres)\",\(i % 90),\(i % 2)\n"
        }
        let path = dir.write("big.csv", text)
        let chunk = 4096
        let reader = try CSVLogReader(path: path, encoder: csvEncoder, options: .init(chunkSize: chunk))
        var batch = csvEncoder.makeBatch()
        var rows = 0
        var peak = 0
        while try reader.read(into: &batch, maxRows: 256) > 0 {
            rows += batch.count
            peak = max(peak, reader.tokenizer.bufferCapacity)
        }
        #expect(rows == 20_000)
        #expect(reader.tokenizer.longestRecord > 6000)
        #expect(peak <= chunk + reader.tokenizer.longestRecord)
        #expect(peak < text.utf8.count / 20)
    }

    @Test func `fitting computes Welford statistics, the time range and a stable fingerprint`() throws {
        let dir = CSVScratchDirectory()
        defer { dir.cleanUp() }
        let path = dir.write("f.csv", "user,ts,genres,age,like\nu1,5,a,10,1\nu2,3,b,,0\nu3,9,c,20,1\nu4,4,d,30,0\n")
        var config = csvConfig
        config.features[2].kind = .numeric(normalization: .standard)
        let profile = try DataProfile.fit(path: path, config: config)
        let age = try #require(profile.statistics["age"])
        #expect(age.count == 3 && age.mean == 20 && abs(age.variance - 200.0 / 3) < 1e-12)
        #expect(profile.rows == 4 && profile.timeRange == 3...9)
        #expect(profile.fingerprint == (try DataProfile.fit(path: path, config: config, options: .init(chunkSize: 3))).fingerprint)
        let other = dir.write("g.csv", "user,ts,genres,age,like\nu1,5,a,10,1\nu2,3,b,,0\nu3,9,c,20,1\nu4,4,d,31,0\n")
        #expect(try DataProfile.fit(path: other, config: config).fingerprint.contentHash != profile.fingerprint.contentHash)
        // The fitted encoder standardises with these moments.
        let encoder = try FeatureEncoder(config: config, statistics: profile.statistics)
        let (b, _) = try csvReadAll(path, encoder: encoder)
        #expect(abs(b.numeric[0] - Float((10 - 20) / (200.0 / 3).squareRoot())) < 1e-6)
        #expect(b.numeric[1] == 0)  // missing
    }

    @Test func `content hash does not depend on chunking`() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var whole = ContentHasher()
        bytes.withUnsafeBytes { whole.update($0) }
        for step in [1, 3, 8, 13, 999] {
            var pieces = ContentHasher()
            var i = 0
            while i < bytes.count {
                let j = min(i + step, bytes.count)
                bytes[i..<j].withUnsafeBytes { pieces.update($0) }
                i = j
            }
            #expect(pieces.finalize() == whole.finalize())
        }
    }
}
