import Serving

/// The `Content-Type` a JSON route (`POST /v1/score`, `POST /v1/events`) accepts:
/// `application/json`, in any case, with parameters (`; charset=utf-8`); a `charset` other than
/// UTF-8 is refused (RFC 8259 §8.1: JSON exchanged between systems is UTF-8).
///
/// A request without the header is read as JSON: the routes take nothing else, and RFC 9110
/// §8.3 lets a recipient examine data of no declared type. A declared type other than JSON is
/// 415 `unsupported_media_type` (the body is not read).
enum JSONMediaType {
    /// Throws unless `header` (the request's `Content-Type`, `nil` when absent) is JSON.
    static func check(_ header: String?) throws(ServingError) {
        guard let header else { return }
        guard isJSON(header) else { throw .unsupportedMediaType(contentType: String(header.prefix(100))) }
    }

    /// `application/json` with any parameters but a non-UTF-8 charset.
    static func isJSON(_ header: String) -> Bool {
        if header == "application/json" { return true }  // what nearly every client sends: no parsing
        let parts = header.split(separator: ";", omittingEmptySubsequences: false)
        guard let type = parts.first, trimmed(type).lowercased() == "application/json" else { return false }
        for parameter in parts.dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, trimmed(pair[0]).lowercased() == "charset" else { continue }
            let charset = trimmed(pair[1]).lowercased().trimmingQuotes
            guard charset == "utf-8" || charset == "utf8" else { return false }
        }
        return true
    }

    private static func trimmed(_ text: Substring) -> Substring {
        let start = text.firstIndex { $0 != " " && $0 != "\t" } ?? text.endIndex
        let end = text.lastIndex { $0 != " " && $0 != "\t" }.map { text.index(after: $0) } ?? start
        return text[start..<max(start, end)]
    }
}

private extension String {
    /// Without one pair of surrounding double quotes (`charset="utf-8"`).
    var trimmingQuotes: Substring {
        count >= 2 && hasPrefix("\"") && hasSuffix("\"") ? dropFirst().dropLast() : self[...]
    }
}
