import Foundation
import Hummingbird
import Logging
import NIOCore
import ParamServer
import Recommendation
import Serving

extension ScoringServer {
    /// The routes and the methods they take.
    static let routes: [String: [HTTPRequest.Method]] = [
        "/v1/score": [.post], "/v1/events": [.post], "/v1/recommend": [.post], "/healthz": [.get], "/metrics": [.get], "/openapi.yaml": [.get],
        "/v1/models/{name}/versions/{version}/score": [.post], "/v1/models/{name}/labels/{label}/score": [.post],
    ]

    /// `POST /v1/score`, `POST /v1/models/{name}/versions/{n}/score`, `POST /v1/models/{name}/labels/{label}/score`,
    /// `POST /v1/events`, `POST /v1/recommend`, `GET /healthz`, `GET /metrics`, `GET /openapi.yaml`;
    /// Hummingbird's `MetricsMiddleware` (HTTP metrics on the process-wide `MetricsSystem`); the
    /// bearer tokens, when configured (``AuthenticationMiddleware``); 404 and 405 as JSON errors
    /// (``RouteErrorMiddleware``).
    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: MetricsMiddleware())
        if configuration.tokens.isEnabled { router.add(middleware: AuthenticationMiddleware(tokens: configuration.tokens, logger: logger)) }
        router.add(middleware: RouteErrorMiddleware(routes: Self.routes))
        router.post("/v1/score") { [self] request, _ -> Response in
            await timed(.score) { () async throws(ServingError) -> Response in
                let body = try await readBody(request)
                let scoreRequest = try RequestDecoding.scoreRequest(from: body, maxCandidates: predictor.settings.maxCandidates)
                return try await score(scoreRequest, on: models.acquire(.split(user: scoreRequest.user)), route: .split)
            }
        }
        router.post("/v1/models/:name/versions/:version/score") { [self] request, context -> Response in
            let (name, version) = (context.parameters.get("name") ?? "", context.parameters.get("version") ?? "")
            return await timed(.score) { () async throws(ServingError) -> Response in
                let body = try await readBody(request)  // before the hold: a slow upload must not keep a version loaded
                return try await score(body, on: models.acquire(.version(name: name, version)), route: .version)
            }
        }
        router.post("/v1/models/:name/labels/:label/score") { [self] request, context -> Response in
            let (name, label) = (context.parameters.get("name") ?? "", context.parameters.get("label") ?? "")
            return await timed(.score) { () async throws(ServingError) -> Response in
                let body = try await readBody(request)  // before the hold: a slow upload must not keep a version loaded
                return try await score(body, on: models.acquire(.label(name: name, label)), route: .label)
            }
        }
        router.post("/v1/events") { [self] request, _ -> Response in
            await timed(.events) { () async throws(ServingError) -> Response in
                let body = try await readBody(request)
                let events = try RequestDecoding.eventsRequest(from: body)
                try predictor.checkTimes(of: events, within: configuration.eventTimes)
                let appended = try await record(events)
                if let recommender {  // the default history of /v1/recommend
                    recommender.recentItems.record(events, itemFeature: recommender.itemFeature, taskKey: predictor.model.config.taskKey,
                                                   isKnown: { recommender.model.index.rows[$0] != nil })
                }
                return HTTPReply.json(.ok, Array("{\"appended\":\(appended)}".utf8))
            }
        }
        router.post("/v1/recommend") { [self] request, _ -> Response in
            await timed(.recommend) { () async throws(ServingError) -> Response in
                let body = try await readBody(request)  // 415 and 413 as on every JSON route, then 404 without a model
                guard recommender != nil else { throw .noRetrievalModel }
                let result = try await recommend(RequestDecoding.recommendRequest(from: body))
                var bytes: [UInt8] = []
                result.writeJSON(into: &bytes)
                return HTTPReply.json(.ok, bytes)
            }
        }
        router.get("/healthz") { [self] _, _ -> Response in
            await timed(.healthz) { () async throws(ServingError) -> Response in
                var out = Array(#"{"status":"ok","model_version":"#.utf8)
                out += Array("\"\(predictor.model.modelVersion)\"}".utf8)
                return HTTPReply.json(.ok, out)
            }
        }
        router.get("/metrics") { [self] _, _ -> Response in
            await timed(.metrics) { () async throws(ServingError) -> Response in
                predictor.metrics.recordStores(support: predictor.supportStore as? SupportStore, embeddings: predictor.model.embeddings)
                // Each version's metrics add its own store's new round trips to the shared counters.
                for version in models.live {
                    if let redis = version.predictor.supportStore as? RedisSupportStore { version.predictor.metrics.recordSharedStore(redis.statistics) }
                }
                return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
            }
        }
        router.get("/openapi.yaml") { [self] _, _ -> Response in
            await timed(.openapi) { () async throws(ServingError) -> Response in
                guard !OpenAPIDocument.bytes.isEmpty else { throw .notFound(path: "/openapi.yaml") }
                return Response(status: .ok, headers: [.contentType: "application/yaml"],
                                body: .init(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.bytes)))
            }
        }
        return router
    }

    /// `body` decoded and scored on `version` (held: released here, whatever happens; a body the
    /// version refuses counts as its 4xx). The body is read before the version is taken, so a
    /// hold lasts only while the request is decoded and scored.
    private func score(_ body: Data, on version: ServedVersion, route: VersionRoute) async throws(ServingError) -> Response {
        let start = ContinuousClock.now
        let scoreRequest: ScoreRequest
        do {
            scoreRequest = try RequestDecoding.scoreRequest(from: body, maxCandidates: version.predictor.settings.maxCandidates)
        } catch {
            version.metrics?.record(route, status: error.httpStatus, nanoseconds: Self.nanoseconds(since: start))
            version.release()
            throw error
        }
        return try await score(scoreRequest, on: version, route: route)
    }

    /// `request` scored on `version` (held: released here): the reply carries the version's
    /// model version and, from a repository, its version number (`"version"`); the version's
    /// requests and latency are counted.
    private func score(_ request: ScoreRequest, on version: ServedVersion, route: VersionRoute) async throws(ServingError) -> Response {
        defer { version.release() }
        let start = ContinuousClock.now
        var result: ScoreResult
        do {
            result = try await version.batcher.score(request)
        } catch {
            version.metrics?.record(route, status: error.httpStatus, nanoseconds: Self.nanoseconds(since: start))
            throw error
        }
        version.metrics?.record(route, status: 200, nanoseconds: Self.nanoseconds(since: start))
        result.repositoryVersion = version.version
        var bytes: [UInt8] = []
        bytes.reserveCapacity(80 + result.scores.count * 24)
        result.writeJSON(into: &bytes)
        return HTTPReply.json(.ok, bytes)
    }

    static func nanoseconds(since start: ContinuousClock.Instant) -> Int64 {
        let (s, atto) = (ContinuousClock.now - start).components
        return s * 1_000_000_000 + atto / 1_000_000_000
    }

    /// Records `events`: through the event log when there is one, answering only once the record
    /// is in the log under its fsync policy (503 `event_log_unavailable` when it cannot be).
    ///
    /// With a model repository, every loaded version turns the events into its own support rows
    /// (its own meta-layer inputs, in its own store): the primary version first (its refusal is
    /// the reply, nothing applied), then the others; another version refusing them (a feature it
    /// lacks) is logged at `warning`, not answered.
    private func record(_ events: EventsRequest) async throws(ServingError) -> Int {
        guard let log = eventLog else {
            let versions = models.live, primary = models.primary
            let (logger, name) = (logger, models.name ?? "")
            let recordAll: @Sendable () throws(ServingError) -> Int = {
                let appended = try primary.predictor.record(events: events)
                for other in versions where other !== primary {
                    do { _ = try other.predictor.record(events: events) } catch {
                        logger.warning("model version \(other.version ?? 0) refused events the primary version took: \(error)",
                                       metadata: ["model": "\(name)"])
                    }
                }
                return appended
            }
            guard primary.predictor.supportStore.isShared else { return try recordAll() }
            // A shared store's append blocks on the network (up to its timeout per socket
            // operation): off the cooperative pool, which the other routes need.
            let result: Result<Int, ServingError> = await withCheckedContinuation { done in
                DispatchQueue.global().async { done.resume(returning: Result { () throws(ServingError) in try recordAll() }) }
            }
            return try result.get()
        }
        var ticket: UInt64 = 0
        let appended = try predictor.record(events: events) { (rows) throws(ServingError) in ticket = try log.append(rows) }
        if ticket > 0 { try await log.waitUntilDurable(ticket) }
        return appended
    }

    /// Runs `body`, turns a ``ServingError`` into its 4xx/5xx JSON reply (logged: 4xx at `info`,
    /// 5xx at `error`, with the code and field), and records the request and its latency in the metrics.
    private func timed(_ endpoint: ServingMetrics.Endpoint,
                       _ body: () async throws(ServingError) -> Response) async -> Response {
        let start = ContinuousClock.now
        let response: Response
        do {
            response = try await body()
        } catch {
            response = HTTPReply.error(error)
            let metadata: Logger.Metadata = ["endpoint": "\(endpoint.rawValue)", "status": "\(error.httpStatus)",
                                             "code": "\(error.code)", "field": "\(error.field ?? "")"]
            logger.log(level: error.httpStatus >= 500 ? .error : .info, "request refused: \(error.description)", metadata: metadata)
        }
        let (s, atto) = (ContinuousClock.now - start).components
        predictor.metrics.recordRequest(endpoint, status: Int(response.status.code), nanoseconds: s * 1_000_000_000 + atto / 1_000_000_000)
        return response
    }

    /// The JSON request body, at most `serving.max_body_bytes`: 415 for a `Content-Type` other
    /// than JSON (``JSONMediaType``), 413 beyond the limit (checked on Content-Length first so an
    /// oversized upload is refused before it is read), 400 `malformed_body` for a body the HTTP
    /// framing could not deliver (a malformed chunk, a connection cut mid-body).
    private func readBody(_ request: Request) async throws(ServingError) -> Data {
        try JSONMediaType.check(request.headers[.contentType])
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBodyBytes {
            throw .bodyTooLarge(limit: maxBodyBytes)
        }
        var request = request
        do {
            let buffer = try await request.collectBody(upTo: maxBodyBytes)
            return Data(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw .bodyTooLarge(limit: maxBodyBytes)
        } catch {
            throw .malformedBody(reason: String("\(error)".prefix(200)))
        }
    }
}

/// JSON replies.
enum HTTPReply {
    static func json(_ status: HTTPResponse.Status, _ bytes: [UInt8]) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// `{"error": {"code": "unknown_feature", "field": "candidates[0].colour", "message": "…"}}`.
    static func error(_ error: ServingError) -> Response {
        var object: [String: String] = ["code": error.code, "message": error.description]
        if let field = error.field { object["field"] = field }
        let data = (try? JSONSerialization.data(withJSONObject: ["error": object], options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return json(HTTPResponse.Status(code: error.httpStatus), Array(data))
    }
}
