import Hummingbird
import Serving

/// What the router answers for a request no route takes, in the API's error format
/// (`{"error": {"code", "message"}}`) instead of Hummingbird's empty 404: a known path asked with
/// another method gets 405 `method_not_allowed` and an `Allow` header (RFC 9110 §15.5.6), any
/// other path 404 `not_found`.
struct RouteErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Path → the methods its routes take; a `{parameter}` segment matches any one segment.
    let routes: [String: [HTTPRequest.Method]]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let path = request.uri.path
            guard let allowed = Self.methods(of: path, in: routes), !allowed.contains(request.method) else {
                return HTTPReply.error(.notFound(path: path))
            }
            var response = HTTPReply.error(.methodNotAllowed(method: request.method.rawValue, path: path,
                                                             allowed: allowed.map(\.rawValue)))
            response.headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
            return response
        }
    }

    /// The methods of the route `path` matches (exactly, or segment by segment with `{…}` wildcards).
    static func methods(of path: String, in routes: [String: [HTTPRequest.Method]]) -> [HTTPRequest.Method]? {
        if let exact = routes[path] { return exact }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        for (pattern, methods) in routes where pattern.contains("{") {
            let parts = pattern.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == segments.count else { continue }
            if zip(parts, segments).allSatisfy({ p, s in p == s || p.hasPrefix("{") && !s.isEmpty }) { return methods }
        }
        return nil
    }
}
