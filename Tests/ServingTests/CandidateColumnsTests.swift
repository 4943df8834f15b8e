import Foundation
import ModelDescription
import ModelMath
import Serving
import Testing

/// Candidates as columns: both JSON wire forms, the library API, the predictor's column path.
@Suite struct CandidateColumnsTests {
    let model: ServingModel
    let predictor: Predictor

    init() throws {
        model = try Fixtures.model()
        predictor = Fixtures.predictor(model, maxCandidates: 10)
        var traffic = SyntheticTraffic(items: 500, seed: 4)
        try predictor.record(events: traffic.events(user: "5", count: 12, tasks: 2))
    }

    func decode(_ json: String) throws(ServingError) -> ScoreRequest {
        try RequestDecoding.scoreRequest(from: Data(json.utf8))
    }

    func error(_ json: String) -> ServingError? {
        do throws(ServingError) {
            _ = try predictor.score(decode(json))
            return nil
        } catch {
            return error
        }
    }

    @Test func `the row and the column wire forms decode to the same columns and scores`() throws {
        let rows = try decode(#"{"user": 5, "candidates": [{"item_id": "3", "price": 1.5, "category": 7}, {"item_id": 4, "popularity": null}, {"price": -2}]}"#)
        let columns = try decode(#"{"user": 5, "candidates": {"item_id": ["3", 4, null], "price": [1.5, null, -2], "category": [7, null, null], "popularity": [null, null, null]}}"#)
        #expect(rows.candidateCount == 3 && columns.candidateCount == 3)
        // Absent (rows) and null (columns) read the same when there is no context.
        let a = try predictor.score(rows), b = try predictor.score(columns)
        #expect(a.finetuned && b.finetuned)
        #expect(a.scores == b.scores)
        // And both equal the library's row form, scored through its dictionaries.
        let dictionaries = try predictor.score(ScoreRequest(user: "5", candidates: [
            ["item_id": "3", "price": 1.5, "category": 7], ["item_id": 4, "popularity": .null], ["price": -2],
        ]))
        #expect(dictionaries.scores == a.scores)
    }

    /// The reader guesses each key's column from the previous row's key order: rows that
    /// reorder, drop or add keys must decode as if every key were looked up.
    @Test func `rows with keys in changing order decode like the column form`() throws {
        let rows = try decode(#"{"user": 5, "candidates": [{"item_id": "3", "price": 1.5}, {"price": 2.5, "item_id": "4"}, {"category": 7, "price": 0.5}, {"popularity": 0.25, "category": 8, "item_id": "6", "price": 1}]}"#)
        let columns = try decode(#"{"user": 5, "candidates": {"item_id": ["3", "4", null, "6"], "price": [1.5, 2.5, 0.5, 1], "category": [null, null, 7, 8], "popularity": [null, null, null, 0.25]}}"#)
        #expect(rows.columns?.names == ["item_id", "price", "category", "popularity"])
        #expect(try predictor.score(rows).scores == predictor.score(columns).scores)
    }

    @Test func `an absent key reads the context, a null one does not`() throws {
        let absent = try predictor.score(decode(#"{"user": "5", "candidates": [{"item_id": "3"}], "context": {"category": "9"}}"#))
        let explicit = try predictor.score(decode(#"{"user": "5", "candidates": [{"item_id": "3", "category": "9"}]}"#))
        let null = try predictor.score(decode(#"{"user": "5", "candidates": [{"item_id": "3", "category": null}], "context": {"category": "9"}}"#))
        let missing = try predictor.score(decode(#"{"user": "5", "candidates": [{"item_id": "3"}]}"#))
        #expect(absent.scores == explicit.scores)
        #expect(null.scores == missing.scores)
        #expect(absent.scores != missing.scores)
    }

    @Test func `a request with columns encodes its candidates as rows`() throws {
        let request = try decode(#"{"user": "5", "candidates": {"item_id": ["3", 4], "price": [null, 2.5], "category": ["x", "y"]}}"#)
        let json = try JSONEncoder().encode(request)
        let back = try RequestDecoding.scoreRequestWithFoundation(from: json)
        #expect(back.candidates == [["item_id": "3", "price": .null, "category": "x"], ["item_id": 4, "price": 2.5, "category": "y"]])
        #expect(try predictor.score(back).scores == (try predictor.score(request)).scores)
    }

    @Test func `the library builds the same columns as the JSON reader`() throws {
        var columns = CandidateColumns(count: 2)
        try columns.setColumn("item_id", strings: ["3", "4"])
        try columns.setColumn("price", numbers: [1.5, .nan])
        let json = try decode(#"{"user": "5", "candidates": {"price": [1.5, null], "item_id": ["3", "4"]}}"#)
        #expect(json.columns == columns)
        #expect(try CandidateColumns(rows: [["item_id": "3", "price": 1.5], ["item_id": "4", "price": .null]]) == columns)
        let scored = try predictor.score(ScoreRequest(user: "5", columns: columns))
        #expect(scored.scores == (try predictor.score(json)).scores)
        #expect(throws: ServingError.invalidValue(field: "candidates.price", reason: "3 values for 2 candidates")) {
            try columns.setColumn("price", numbers: [1, 2, 3])
        }
        #expect(throws: ServingError.invalidValue(field: "candidates.item_id", reason: "set twice")) {
            try columns.setColumn("item_id", strings: ["1", "2"])
        }
        #expect(throws: ServingError.self) {
            try columns.setColumn("category", [.list([.list(["a"])]), "b"])
        }
    }

    @Test func `column-form errors name the column and the row`() {
        #expect(error(#"{"user": "5", "candidates": {"item_id": ["1", "2"], "price": [1]}}"#)
            == .invalidValue(field: "candidates.price", reason: "1 values, but the first column has 2"))
        #expect(error(#"{"user": "5", "candidates": {"item_id": ["1"], "item_id": ["2"]}}"#)
            == .duplicateKey(field: "candidates.item_id"))
        #expect(error(#"{"user": "5", "candidates": {"colour": ["red"]}}"#) == .unknownFeature(field: "candidates.colour"))
        #expect(error(#"{"user": "5", "candidates": {"task0": [1]}}"#) == .unknownFeature(field: "candidates.task0"))
        #expect(error(#"{"user": "5", "candidates": {"price": [1, "cheap"]}}"#)?.field == "candidates.price[1]")
        #expect(error(#"{"user": "5", "candidates": {"item_id": [1, 2.5]}}"#)?.field == "candidates.item_id[1]")
        #expect(error(#"{"user": "5", "candidates": {"item_id": "1"}}"#)?.code == "wrong_type")
        #expect(error(#"{"user": "5", "candidates": {"item_id": [{"a": 1}]}}"#)?.field == "candidates.item_id[0]")
        // Bad cells in two columns: the earlier row is named, whichever column it is in.
        #expect(error(#"{"user": "5", "candidates": {"item_id": [1, 2, 3.5], "price": [1, "x", 2]}}"#)?.field
            == "candidates.price[1]")
        #expect(error(#"{"user": "5", "candidates": {"item_id": [1, 2.5, 3], "price": [1, 2, "x"]}}"#)?.field
            == "candidates.item_id[1]")
        #expect(error(#"{"user": "5", "candidates": {"item_id": ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"]}}"#)
            == .tooManyCandidates(count: 11, limit: 10))
        // Row form: the first row that sets an unknown key, and the row of a bad value.
        #expect(error(#"{"user": "5", "candidates": [{"item_id": "1"}, {"item_id": "2", "colour": "red"}]}"#)
            == .unknownFeature(field: "candidates[1].colour"))
        #expect(error(#"{"user": "5", "candidates": [{"price": 1}, {"price": "cheap"}]}"#)?.field == "candidates[1].price")
    }

    @Test func `the reader stops at the candidate limit and at too many names`() {
        func decodeError(_ json: String, limit: Int) -> ServingError? {
            do throws(ServingError) {
                _ = try RequestDecoding.scoreRequest(from: Data(json.utf8), maxCandidates: limit)
                return nil
            } catch {
                return error
            }
        }
        let rows = "[" + Array(repeating: "{}", count: 11).joined(separator: ",") + "]"
        #expect(decodeError(#"{"user": "5", "candidates": \#(rows)}"#, limit: 10) == .tooManyCandidates(count: 11, limit: 10))
        #expect(decodeError(#"{"user": "5", "candidates": \#(rows)}"#, limit: 11) == nil)
        let column = "[" + Array(repeating: "1", count: 11).joined(separator: ",") + "]"
        #expect(decodeError(#"{"user": "5", "candidates": {"price": \#(column)}}"#, limit: 10) == .tooManyCandidates(count: 11, limit: 10))
        #expect(ServingError.tooManyCandidates(count: 11, limit: 10).description == "candidates: more than 10 candidates, the limit is 10")
        // Distinct names are bounded too (each would be an unknown feature anyway).
        let keys = (0...CandidateColumns.maxColumns).map { #""k\#($0)": 1"# }.joined(separator: ",")
        #expect(decodeError(#"{"user": "5", "candidates": [{\#(keys)}]}"#, limit: 10)
            == .invalidValue(field: "candidates", reason: "more than \(CandidateColumns.maxColumns) distinct feature names"))
        let few = (0..<CandidateColumns.maxColumns).map { #""k\#($0)": 1"# }.joined(separator: ",")
        #expect(decodeError(#"{"user": "5", "candidates": [{\#(few)}]}"#, limit: 10) == nil)
    }

    @Test func `requests longer than one encoding chunk: same scores in every form, errors name their row`() throws {
        // 150 candidates = chunks of 64, 64 and 22 rows; integer IDs are written out as text per chunk.
        var traffic = SyntheticTraffic(items: 500, seed: 9)
        var rows = traffic.request(user: "5", candidates: 150).candidates
        for c in stride(from: 0, to: rows.count, by: 3) { rows[c]["item_id"] = .integer(Int64(c)) }
        let predictor = Fixtures.predictor(model, maxCandidates: 1000)
        let byRows = try predictor.score(ScoreRequest(user: "5", candidates: rows))
        let byColumns = try predictor.score(ScoreRequest(user: "5", columns: try CandidateColumns(rows: rows)))
        #expect(byRows.candidateCount == 150 && byRows.scores == byColumns.scores)
        // Scored one by one, each candidate gets the same scores as in the long request.
        for c in [0, 63, 64, 127, 128, 149] {
            let alone = try predictor.score(ScoreRequest(user: "5", candidates: [rows[c]]))
            #expect(Fixtures.maxRelativeDifference(alone.scores, Array(byRows.scores[(2 * c)..<(2 * c + 2)])) <= 1e-5)
        }
        // A bad value in the third chunk fails the request naming its row; the next request is unaffected.
        var bad = rows
        bad[130]["price"] = "cheap"
        #expect(throws: ServingError.wrongType(field: "candidates[130].price", expected: "a number, got a string")) {
            try predictor.score(ScoreRequest(user: "5", candidates: bad))
        }
        #expect(try predictor.score(ScoreRequest(user: "5", candidates: rows)).scores == byRows.scores)
    }

    @Test func `unknown names of one request do not stay in a reused workspace`() throws {
        let predictor = Fixtures.predictor(model)
        var wide: [String: FeatureValue] = ["item_id": "3"]
        for k in 0..<(CandidateColumns.maxColumns - 1) { wide["unknown\(k)"] = 1 }
        #expect(throws: ServingError.self) { try predictor.score(ScoreRequest(user: "5", candidates: [wide])) }
        // The pooled workspace is reused: a request with new valid names still encodes.
        let ok = try predictor.score(ScoreRequest(user: "5", candidates: [["item_id": "3", "category": "4", "price": 2]]))
        #expect(ok.candidateCount == 1)
    }

    @Test func `candidates with no columns read the context, the user and missing values`() throws {
        let empty = try predictor.score(decode(#"{"user": "5", "candidates": [{}, {}]}"#))
        let explicit = try predictor.score(decode(#"{"user": "5", "candidates": [{"price": null}, {"item_id": null}]}"#))
        #expect(empty.candidateCount == 2 && empty.scores == explicit.scores)
        let library = try predictor.score(ScoreRequest(user: "5", columns: CandidateColumns(count: 2)))
        #expect(library.scores == empty.scores)
    }

    @Test func `a copied workspace encodes with its own buffer`() throws {
        var traffic = SyntheticTraffic(items: 500, seed: 10)
        let request = ScoreRequest(user: "5", columns: try CandidateColumns(rows: traffic.request(user: "5", candidates: 70).candidates))
        var first = predictor.makeWorkspace()
        var results: [Result<ScoreResult, ServingError>] = []
        predictor.scoreBatch([request], into: &results, workspace: &first)
        var second = first  // shares the field buffer until one of them encodes
        var again: [Result<ScoreResult, ServingError>] = []
        predictor.scoreBatch([request], into: &again, workspace: &second)
        predictor.scoreBatch([request], into: &results, workspace: &first)
        #expect(try again[0].get().scores == results[0].get().scores)
    }

    @Test func `an empty column form is zero candidates`() throws {
        let result = try predictor.score(decode(#"{"user": "5", "candidates": {}}"#))
        #expect(result.candidateCount == 0)
        let empty = try predictor.score(decode(#"{"user": "5", "candidates": {"item_id": []}}"#))
        #expect(empty.candidateCount == 0)
    }

    @Test func `column-form scoring allocates nothing after warm-up`() throws {
        var traffic = SyntheticTraffic(items: 500, seed: 8)
        let rows = traffic.request(user: "5", candidates: 50)
        let request = ScoreRequest(user: "5", columns: try CandidateColumns(rows: rows.candidates))
        let predictor = Fixtures.predictor(model)
        var result = ScoreResult(modelVersion: model.modelVersion, taskNames: predictor.taskNames)
        for _ in 0..<20 { try predictor.score(request, into: &result) }
        #expect(result.scores == (try predictor.score(rows)).scores)
        let allocations = try AllocationCounter.count { for _ in 0..<50 { try predictor.score(request, into: &result) } }
        guard let allocations, AllocationCounter.isOptimized else { return }
        #expect(allocations <= 50 * AllocationCounter.perRequestBudget, "allocations per request: \(Double(allocations) / 50)")
    }
}
