import ParamServer

/// Everything that can go wrong with outside input to the serving layer (`docs/DESIGN.md` §HTTP): a
/// request body, a feature value, a limit. Each case names the offending JSON field as a path such
/// as `candidates[3].price` so the HTTP layer can answer with a 4xx naming it.
///
/// Requests never trap: every check on outside input throws one of these, and nothing is
/// half-applied when one is thrown (an events request with one bad event appends none).
public enum ServingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The body is not JSON, or not the expected JSON shape at `field` (`""` = the whole body).
    case malformedJSON(field: String, reason: String)
    /// A required field is absent, e.g. `user`.
    case missingField(field: String)
    /// A key that is not an input column of the model, e.g. `candidates[0].colour`.
    case unknownFeature(field: String)
    /// A value of the wrong JSON type, e.g. a string for a numeric feature.
    case wrongType(field: String, expected: String)
    /// A value of the right type that is out of range (e.g. a binary label of 2, steps of −1).
    case invalidValue(field: String, reason: String)
    /// More candidates than `serving.max_candidates`: `count` of them, or `limit + 1` when the
    /// JSON reader stopped at the limit.
    case tooManyCandidates(count: Int, limit: Int)
    /// A body larger than `serving.max_body_bytes` (HTTP 413).
    case bodyTooLarge(limit: Int)
    /// The server is draining for shutdown (HTTP 503).
    case shuttingDown
    /// 503: the server's event log could not take the events (a write or fsync failed); they are
    /// not acknowledged. `reason` names the file and the system error.
    case eventLogUnavailable(reason: String)
    /// 503 `support_store_unavailable`: a shared support store (Redis) could not take the events
    /// or serve the rows their encoding needs (down, timed out, an error reply, named in the
    /// message); they are not acknowledged.
    case supportStoreUnavailable(SupportStoreUnavailable)
    /// No such resource (HTTP 404): an unknown path, or a document not installed with the server.
    case notFound(path: String)
    /// A known path asked with a method it does not take (HTTP 405; `allowed` goes in `Allow`).
    case methodNotAllowed(method: String, path: String, allowed: [String])
    /// A JSON object with the same key twice, e.g. `events[0].user` (RFC 8259 leaves the meaning
    /// open; the server refuses rather than pick one).
    case duplicateKey(field: String)
    /// A body whose `Content-Type` is not `application/json` on a JSON route (HTTP 415);
    /// `contentType` is the header as sent.
    case unsupportedMediaType(contentType: String)
    /// A body that could not be read as HTTP framing says (a malformed chunk, a connection cut
    /// mid-body); HTTP 400.
    case malformedBody(reason: String)
    /// No valid bearer token on a route that needs one (HTTP 401).
    case unauthorized(reason: String)
    /// `POST /v1/recommend` on a server started without a retrieval model (HTTP 404
    /// `no_retrieval_model`: the route exists, the resource it needs does not).
    case noRetrievalModel
    /// A model repository route names a model, version or label the server does not serve
    /// (`field`: `name`, `version` or `label`, the path parameter; `reason` names what is served).
    case unknownModel(field: String, reason: String)

    /// The JSON field the error is about (`nil` for limits not tied to a field).
    public var field: String? {
        switch self {
        case .malformedJSON(let field, _): field
        case .missingField(let field), .unknownFeature(let field): field
        case .wrongType(let field, _), .invalidValue(let field, _): field
        case .duplicateKey(let field): field
        case .unknownModel(let field, _): field
        case .tooManyCandidates: "candidates"
        case .bodyTooLarge, .shuttingDown, .eventLogUnavailable, .supportStoreUnavailable, .notFound, .methodNotAllowed, .unsupportedMediaType, .malformedBody, .unauthorized,
             .noRetrievalModel: nil
        }
    }

    /// A stable machine-readable code for the JSON error body.
    public var code: String {
        switch self {
        case .malformedJSON: "malformed_json"
        case .missingField: "missing_field"
        case .unknownFeature: "unknown_feature"
        case .wrongType: "wrong_type"
        case .invalidValue: "invalid_value"
        case .tooManyCandidates: "too_many_candidates"
        case .bodyTooLarge: "body_too_large"
        case .shuttingDown: "shutting_down"
        case .eventLogUnavailable: "event_log_unavailable"
        case .supportStoreUnavailable: "support_store_unavailable"
        case .notFound: "not_found"
        case .methodNotAllowed: "method_not_allowed"
        case .duplicateKey: "duplicate_key"
        case .unsupportedMediaType: "unsupported_media_type"
        case .malformedBody: "malformed_body"
        case .unauthorized: "unauthorized"
        case .noRetrievalModel: "no_retrieval_model"
        case .unknownModel: "unknown_model"
        }
    }

    /// The HTTP status the error maps to: 413 for the body limit, 503 while draining, 404 for a
    /// missing resource, 405 for a method a path does not take, 415 for a body that is not
    /// JSON, 401 without a valid token, else 400.
    public var httpStatus: Int {
        switch self {
        case .bodyTooLarge: 413
        case .unsupportedMediaType: 415
        case .unauthorized: 401
        case .shuttingDown, .eventLogUnavailable, .supportStoreUnavailable: 503
        case .notFound, .noRetrievalModel, .unknownModel: 404
        case .methodNotAllowed: 405
        default: 400
        }
    }

    public var description: String {
        switch self {
        case .malformedJSON(let field, let reason):
            field.isEmpty ? "malformed JSON: \(reason)" : "malformed JSON at \(field): \(reason)"
        case .missingField(let field): "missing field \(field)"
        case .unknownFeature(let field): "unknown feature \(field)"
        case .wrongType(let field, let expected): "\(field): expected \(expected)"
        case .invalidValue(let field, let reason): "\(field): \(reason)"
        case .tooManyCandidates(let count, let limit): "candidates: \(count == limit + 1 ? "more than \(limit)" : "\(count)") candidates, the limit is \(limit)"
        case .bodyTooLarge(let limit): "request body larger than \(limit) bytes"
        case .shuttingDown: "the server is shutting down"
        case .eventLogUnavailable(let reason): "the events were not acknowledged (the event log could not take them): \(reason)"
        case .supportStoreUnavailable(let failure): "the events were not acknowledged (support store \(failure.cause.rawValue)); retry later"
        case .notFound(let path): "no resource at \(path)"
        case .methodNotAllowed(let method, let path, let allowed): "\(path) takes \(allowed.joined(separator: ", ")), not \(method)"
        case .duplicateKey(let field): "duplicate key \(field)"
        case .unsupportedMediaType(let contentType): "Content-Type must be application/json, not \(contentType)"
        case .malformedBody(let reason): "malformed request body: \(reason)"
        case .unauthorized(let reason): "unauthorized: \(reason)"
        case .unknownModel(_, let reason): reason
        case .noRetrievalModel: "no retrieval model is loaded: start the server with --retrieval DIR (or METAREC_RETRIEVAL) for /v1/recommend"
        }
    }
}
