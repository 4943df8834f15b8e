import Foundation

/// JSON bodies → request values, with decoding failures turned into ``ServingError``s that
/// name the field (`candidates[2].price`), so a client sees which value was wrong.
public enum RequestDecoding {
    /// Decodes a `POST /v1/score` body.
    ///
    /// - Parameter maxCandidates: reading stops past this many candidates (the server passes
    ///   `serving.max_candidates`), so a long list costs no more than the limit.
    /// - Throws: ``ServingError/malformedJSON(field:reason:)``, ``ServingError/missingField(field:)``,
    ///   ``ServingError/wrongType(field:expected:)``, ``ServingError/tooManyCandidates(count:limit:)``.
    public static func scoreRequest(from data: Data, maxCandidates: Int = .max) throws(ServingError) -> ScoreRequest {
        try read(data, maxCandidates: maxCandidates) { (reader: inout JSONReader) throws(ServingError) in try reader.scoreRequest() }
    }

    /// Decodes a `POST /v1/events` body.
    public static func eventsRequest(from data: Data) throws(ServingError) -> EventsRequest {
        try read(data) { (reader: inout JSONReader) throws(ServingError) in try reader.eventsRequest() }
    }

    /// Runs the hand-written ``JSONReader`` over the body's bytes.
    static func read<T>(
        _ data: Data, maxCandidates: Int = .max, _ body: (inout JSONReader) throws(ServingError) -> T
    ) throws(ServingError) -> T {
        let result: Result<T, ServingError> = data.withUnsafeBytes { raw in
            var reader = JSONReader(raw, maxCandidates: maxCandidates)
            do throws(ServingError) { return .success(try body(&reader)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// The same requests through Foundation's `JSONDecoder` and the `Codable` conformances
    /// (kept as the reference the hand-written reader is tested against).
    public static func scoreRequestWithFoundation(from data: Data) throws(ServingError) -> ScoreRequest {
        try decode(ScoreRequest.self, from: data)
    }

    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws(ServingError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw map(error)
        } catch {
            throw .malformedJSON(field: "", reason: "\(error)")
        }
    }

    /// `[candidates, Index 2, price]` → `candidates[2].price`.
    static func path(_ codingPath: [any CodingKey]) -> String {
        var out = ""
        for key in codingPath {
            if let i = key.intValue {
                out += "[\(i)]"
            } else {
                if !out.isEmpty { out += "." }
                out += key.stringValue
            }
        }
        return out
    }

    static func map(_ error: DecodingError) -> ServingError {
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context.codingPath)
            return .missingField(field: parent.isEmpty ? key.stringValue : parent + "." + key.stringValue)
        case .typeMismatch(let type, let context):
            return .wrongType(field: path(context.codingPath), expected: expectation(type))
        case .valueNotFound(let type, let context):
            return .wrongType(field: path(context.codingPath), expected: expectation(type) + ", not null")
        case .dataCorrupted(let context):
            let reason = (context.underlyingError.map { "\($0)" } ?? context.debugDescription)
            return .malformedJSON(field: path(context.codingPath), reason: String(reason.prefix(200)))
        @unknown default:
            return .malformedJSON(field: "", reason: "\(error)")
        }
    }

    private static func expectation(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is Int.Type, is Int64.Type, is Double.Type: "a number"
        case is [[String: FeatureValue]].Type, is [Any].Type: "an array"
        case is [String: FeatureValue].Type: "an object"
        default: "\(type)"
        }
    }
}
