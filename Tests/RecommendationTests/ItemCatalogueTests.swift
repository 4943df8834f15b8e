import Foundation
import Recommendation
import Serving
import Testing

/// `--catalogue items.csv`: item features for `/v1/recommend`'s candidates, typed by the ranker.
@Suite struct ItemCatalogueTests {
    static func read(_ csv: String) throws -> ItemCatalogue {
        let dir = try temporaryDirectory("catalogue")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("items.csv")
        try Data(csv.utf8).write(to: file)
        return try ItemCatalogue(path: file.path, itemFeature: "item_id", ranker: try Fixtures.model().config)
    }

    static func message(_ csv: String) -> String {
        do { _ = try read(csv); return "" } catch { return "\(error)" }
    }

    @Test func `rows are keyed by the item feature, numbers typed, quotes and CRLF read, empty fields missing`() throws {
        let c = try Self.read("\u{FEFF}category,item_id,price\r\n\"a,\"\"b\"\"\",7,2.5\r\n,8,\n\n\"multi\nline\",9,-1e2\n")
        #expect(c.rows.count == 3)
        #expect(c.rows["7"] == ["category": .string(#"a,"b""#), "price": .number(2.5)])
        #expect(c.rows["8"] == [:])
        #expect(c.rows["9"] == ["category": .string("multi\nline"), "price": .number(-100)])
    }

    @Test func `a malformed catalogue is refused naming the line and column`() {
        #expect(Self.message("price,category\n1,a\n").contains("no column item_id"))
        #expect(Self.message("item_id,colour\n1,red\n").contains(":1:2: colour is not a feature of the ranker"))
        #expect(Self.message("item_id,price\n1,cheap\n").contains(":2:2: price must be a number"))
        #expect(Self.message("item_id,price\n1,nan\n").contains(":2:2: price must be a number"))
        #expect(Self.message("item_id,price\n1,2\n3\n").contains(":3: 1 fields, the header has 2"))
        #expect(Self.message("item_id,price\n1,2\n1,3\n").contains(":3: item key \"1\" empty or repeated"))
        #expect(Self.message("item_id,price\n\"1,2\n").contains("unterminated quoted field"))
        #expect(Self.message("item_id,item_id\n1,1\n").contains("column item_id twice"))
        #expect(Self.message("").contains("empty file"))
    }
}
