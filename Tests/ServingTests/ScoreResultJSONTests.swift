import Foundation
import Serving
import Testing

/// The response body writer (`ScoreResult.writeJSON`): valid JSON, every score read back exactly.
@Suite struct ScoreResultJSONTests {
    /// Writes `scores` for tasks `names` and parses the body back with Foundation.
    func roundTrip(_ scores: [Float], names: [String]) throws -> (text: String, scores: [[String: Double]]) {
        var result = ScoreResult(modelVersion: "00000000000000aa", taskNames: names)
        result.scores = scores
        var bytes: [UInt8] = []
        result.writeJSON(into: &bytes)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        let rows = try #require(object["scores"] as? [[String: Any]])
        return (String(decoding: bytes, as: UTF8.self), rows.map { $0.mapValues { ($0 as? NSNumber)?.doubleValue ?? .nan } })
    }

    @Test func `every float reads back exactly`() throws {
        var values: [Float] = [0, 1, -1, 0.5, 0.1, 1e-5, 9.999999e-6, 1e9, 999_999_940, 123_456_789, 3.25e-7, -2.5e12,
                               .leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude, 0.812345671, 100, 1e-45]
        var rng = SystemRandomNumberGenerator()
        while values.count < 2000 {  // random bit patterns: every exponent, every mantissa
            let x = Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng))
            if x.isFinite { values.append(x) }
        }
        let (text, rows) = try roundTrip(values, names: ["p"])
        for (i, v) in values.enumerated() {
            let back = Float(rows[i]["p"]!)
            #expect(back == v, "\(v) wrote \(text.split(separator: ",")[min(i + 3, text.split(separator: ",").count - 1)]) read \(back)")
        }
    }

    @Test func `plain decimals in the usual range, exponents outside it`() throws {
        // Binary fractions, so the digits are known: 2^-20, 2^34, 2^-16 (9 significant digits, rounded).
        let (text, _) = try roundTrip([0.25, 12.5, 3, 0x1p-20, 0x1p34, 0x1p-16, 0.1], names: ["p"])
        #expect(text.contains(#""p":0.25}"#) && text.contains(#""p":12.5}"#) && text.contains(#""p":3}"#))
        #expect(text.contains(#""p":9.53674316e-7}"#) && text.contains(#""p":1.71798692e10}"#))
        #expect(text.contains(#""p":0.0000152587891}"#))
        #expect(text.contains(#""p":0.100000001}"#))  // Float(0.1) to 9 digits
    }

    @Test func `task names are escaped, every task of every candidate is written`() throws {
        let names = [#"cl"ick"#, "a\\b", "tab\there"]
        let (_, rows) = try roundTrip([0.5, 0.25, 1, 2, 3, 4], names: names)
        #expect(rows.count == 2)
        #expect(rows[0] == [names[0]: 0.5, names[1]: 0.25, names[2]: 1])
        #expect(rows[1] == [names[0]: 2, names[1]: 3, names[2]: 4])
    }
}
