import Foundation
import ModelDescription
import Serving
import Testing

/// The candidate encoder's behaviour in a merged batch: a request that fails after some of its
/// chunks were appended has exactly those rows removed again (`EncodedBatch.removeRows(from:)`),
/// so the requests around it encode once and score as if alone.
@Suite struct CandidateEncoderTests {
    let model: ServingModel
    let predictor: Predictor

    init() throws {
        model = try Fixtures.model()
        predictor = Fixtures.predictor(model, maxCandidates: 1000)
        var traffic = SyntheticTraffic(items: 500, seed: 31)
        try predictor.record(events: traffic.events(user: "5", count: 12, tasks: 2))
    }

    @Test(arguments: [0, 63, 64, 130])
    func `a request failing in any chunk leaves the others' rows and scores as if alone`(badCandidate: Int) throws {
        var traffic = SyntheticTraffic(items: 500, seed: 32)
        let before = traffic.request(user: "5", candidates: 70)
        var failing = traffic.request(user: "5", candidates: 150)
        failing.candidates[badCandidate]["price"] = "cheap"
        let after = ScoreRequest(user: "5", columns: try CandidateColumns(rows: traffic.request(user: "5", candidates: 20).candidates))
        var ws = predictor.makeWorkspace()
        var results: [Result<ScoreResult, ServingError>] = []
        predictor.scoreBatch([before, failing, after], into: &results, workspace: &ws)
        #expect(results.count == 3)
        #expect(throws: ServingError.wrongType(field: "candidates[\(badCandidate)].price", expected: "a number, got a string")) {
            try results[1].get()
        }
        for (r, request) in [(0, before), (2, after)] {
            let merged = try results[r].get(), alone = try predictor.score(request)
            #expect(merged.candidateCount == request.candidateCount)
            #expect(Fixtures.maxRelativeDifference(merged.scores, alone.scores) <= 1e-5, "request \(r)")
        }
    }

    @Test func `an unknown feature fails its request before any row is appended, in either form`() throws {
        var traffic = SyntheticTraffic(items: 500, seed: 33)
        let good = traffic.request(user: "5", candidates: 3)
        var rows = traffic.request(user: "5", candidates: 4)
        rows.candidates[2]["colour"] = "red"
        var columns = CandidateColumns(count: 4)
        try columns.setColumn("item_id", strings: ["1", "2", "3", "4"])
        try columns.setColumn("colour", strings: ["a", "b", "c", "d"])
        var ws = predictor.makeWorkspace()
        var results: [Result<ScoreResult, ServingError>] = []
        predictor.scoreBatch([rows, good, ScoreRequest(user: "5", columns: columns)], into: &results, workspace: &ws)
        #expect(throws: ServingError.unknownFeature(field: "candidates[2].colour")) { try results[0].get() }
        #expect(throws: ServingError.unknownFeature(field: "candidates.colour")) { try results[2].get() }
        #expect(Fixtures.maxRelativeDifference(try results[1].get().scores, try predictor.score(good).scores) <= 1e-5)
    }

    @Test func `context defaults and written-out integers reach every chunk`() throws {
        // 140 candidates, no category column: the context's category is every candidate's
        // default; integer item IDs are written out as text chunk by chunk.
        let ids = (0..<140).map { FeatureValue.integer(Int64($0 % 37)) }
        var columns = CandidateColumns(count: 140)
        try columns.setColumn("item_id", ids)
        var request = ScoreRequest(user: "5", columns: columns)
        request.context = ["category": "9"]
        let merged = try predictor.score(request)
        for c in [0, 63, 64, 127, 128, 139] {
            let alone = try predictor.score(ScoreRequest(user: "5", candidates: [["item_id": .string("\(c % 37)"), "category": "9"]]))
            #expect(Fixtures.maxRelativeDifference(alone.scores, Array(merged.scores[(2 * c)..<(2 * c + 2)])) <= 1e-5, "candidate \(c)")
        }
    }
}
