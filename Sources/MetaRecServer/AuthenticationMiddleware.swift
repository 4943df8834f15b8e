import Hummingbird
import Logging
import Serving

/// Bearer-token authentication (RFC 6750) on every route but `GET /healthz` (a load balancer's
/// probe needs no secret, and it says nothing but the model version): a request without
/// `Authorization: Bearer <token>`, or with a token the server does not hold, gets 401
/// `unauthorized` in the API's error format with `WWW-Authenticate: Bearer realm="metarec"`
/// (and `error="invalid_token"` when a token was sent), before routing, so unknown paths are
/// not told apart from known ones. Each refusal is logged at `info`, like other refused
/// requests (the presented token never is). Installed only when ``BearerTokens/isEnabled``.
struct AuthenticationMiddleware<Context: RequestContext>: RouterMiddleware {
    let tokens: BearerTokens
    let logger: Logger
    /// Paths open without a token.
    static var openPaths: Set<String> { ["/healthz"] }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if Self.openPaths.contains(request.uri.path) { return try await next(request, context) }
        guard let header = request.headers[.authorization] else {
            return refusal(request, "this server requires Authorization: Bearer <token>", invalidToken: false)
        }
        guard let presented = Self.bearerCredentials(header) else {
            return refusal(request, "the Authorization header is not of the Bearer scheme", invalidToken: false)
        }
        guard tokens.accepts(presented) else {
            return refusal(request, "the bearer token is not valid", invalidToken: true)
        }
        return try await next(request, context)
    }

    /// The credentials of `Bearer <credentials>` (scheme case-insensitive, RFC 9110 §11.1), or `nil`.
    static func bearerCredentials(_ header: String) -> Substring.UTF8View? {
        let trimmed = header.drop { $0 == " " }
        guard trimmed.utf8.count > 7, trimmed.prefix(7).lowercased() == "bearer " else { return nil }
        let credentials = trimmed.dropFirst(7).drop { $0 == " " }
        let end = credentials.lastIndex { $0 != " " }.map { credentials.index(after: $0) } ?? credentials.startIndex
        let token = credentials[..<end]
        return token.isEmpty ? nil : token.utf8
    }

    /// The 401 reply, logged.
    func refusal(_ request: Request, _ reason: String, invalidToken: Bool) -> Response {
        let error = ServingError.unauthorized(reason: reason)
        logger.info("request refused: \(error.description)", metadata: [
            "path": "\(request.uri.path)", "status": "401", "code": "\(error.code)",
        ])
        var response = HTTPReply.error(error)
        response.headers[.wwwAuthenticate] = invalidToken ? #"Bearer realm="metarec", error="invalid_token""# : #"Bearer realm="metarec""#
        return response
    }
}
