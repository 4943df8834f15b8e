import Foundation
import Testing
@testable import MetaTrain

@Suite struct DatasetsCSVWriterTests {
    @Test func `quotes fields holding the delimiter, quotes or line breaks and ends rows with LF`() throws {
        let dir = DatasetsFixtures.temporaryDirectory()
        let path = "\(dir)/out.csv"
        let writer = try CSVWriter(path: path)
        try writer.writeHeader(["a", "b"])
        try writer.writeRow(["plain", "with,comma"])
        try writer.writeRow(["say \"hi\"", "two\nlines"])
        try writer.writeRow(["cr\rhere", ""])
        try writer.close()
        let text = String(decoding: try DatasetsFixtures.bytes(path), as: UTF8.self)
        #expect(text == "a,b\nplain,\"with,comma\"\n\"say \"\"hi\"\"\",\"two\nlines\"\n\"cr\rhere\",\n")
        #expect(writer.rowCount == 3)
    }

    @Test(arguments: [
        (-0.31416, 4, "-0.3142"), (0.00004, 4, "0.0000"), (-0.00004, 4, "0.0000"), (12.5, 0, "13"),
        (1234.05, 1, "1234.1"), (-7, 2, "-7.00"), (0.5, 1, "0.5"),
    ])
    func `fixed-point fields round half away from zero`(value: Double, decimals: Int, expected: String) throws {
        let dir = DatasetsFixtures.temporaryDirectory()
        let writer = try CSVWriter(path: "\(dir)/n.csv")
        writer.writeField(value, decimals: decimals)
        writer.writeField(-42)
        try writer.endRow()
        try writer.close()
        let text = String(decoding: try DatasetsFixtures.bytes("\(dir)/n.csv"), as: UTF8.self)
        #expect(text == "\(expected),-42\n")
    }

    @Test func `the file appears only on close and no temporary file is left`() throws {
        let dir = DatasetsFixtures.temporaryDirectory()
        let path = "\(dir)/atomic.csv"
        do {
            let dropped = try CSVWriter(path: "\(dir)/dropped.csv")
            try dropped.writeRow(["x"])
        }
        let writer = try CSVWriter(path: path, bufferSize: 1024)
        for i in 0..<1000 { try writer.writeRow(["row", "\(i)"]) }
        #expect(!FileManager.default.fileExists(atPath: path))
        try writer.close()
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["atomic.csv"])
        #expect(try DatasetsFixtures.readCSV(path).rows.count == 999)
    }

    @Test func `a bad delimiter or an unwritable directory throws`() throws {
        #expect(throws: DatasetError.self) { try CSVWriter(path: "/tmp/x.csv", delimiter: "\"") }
        #expect(throws: DatasetError.writeFailed(file: "/nonexistent-dir/x.csv", reason: "No such file or directory")) {
            try CSVWriter(path: "/nonexistent-dir/x.csv")
        }
    }
}
