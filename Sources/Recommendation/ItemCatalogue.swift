import Foundation
import ModelDescription
import Serving

/// Item features for the ranker's candidates in `POST /v1/recommend` (`metarec serve --catalogue
/// items.csv`): one row per item, keyed by the item feature's column.
///
/// ```
/// items.csv   header: the item feature (e.g. item_id) and any other features of the ranker's config
///             row:    an item key and its values; an empty field is the missing value
/// candidate   = catalogue[key] ∪ {item feature: key}      (an item without a row: the key alone)
/// ```
/// Values are typed by the ranker's feature kinds: numeric columns must parse as numbers (else an
/// error naming `file:line:column` at start); every other kind is text, as JSON would send it.
/// RFC 4180 quoting (doubled quotes inside quoted fields, separators and newlines in them), LF or CRLF.
public struct ItemCatalogue: Sendable {
    /// Item key → the item's feature values (the key column excluded).
    public let rows: [String: [String: FeatureValue]]

    /// A malformed catalogue file.
    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// Reads `path` for a ranker with `config`, keyed by `itemFeature`.
    /// - Throws: ``Invalid`` naming the file (and line and column) for an unreadable file, a header
    ///   without the key column, a column the ranker does not have, a repeated column or key, a row
    ///   with another number of fields, or a numeric field that is not a number.
    public init(path: String, itemFeature: String, ranker config: ModelConfig) throws(Invalid) {
        guard let data = FileManager.default.contents(atPath: path) else { throw Invalid(description: "\(path): cannot read") }
        let records = try Self.records(String(decoding: data, as: UTF8.self), path: path)
        guard let header = records.first else { throw Invalid(description: "\(path): empty file (expected a header row)") }
        let kinds = Dictionary(config.features.map { ($0.name, $0.kind) }, uniquingKeysWith: { a, _ in a })
        guard let keyColumn = header.fields.firstIndex(of: itemFeature) else {
            throw Invalid(description: "\(path):1: no column \(itemFeature) (the item feature) in the header")
        }
        for (j, name) in header.fields.enumerated() {
            guard kinds[name] != nil else { throw Invalid(description: "\(path):1:\(j + 1): \(name) is not a feature of the ranker") }
            guard header.fields.firstIndex(of: name) == j else { throw Invalid(description: "\(path):1:\(j + 1): column \(name) twice") }
        }
        var rows: [String: [String: FeatureValue]] = [:]
        for record in records.dropFirst() {
            guard record.fields.count == header.fields.count else {
                throw Invalid(description: "\(path):\(record.line): \(record.fields.count) fields, the header has \(header.fields.count)")
            }
            let key = record.fields[keyColumn]
            guard !key.isEmpty, rows[key] == nil else { throw Invalid(description: "\(path):\(record.line): item key \(String(reflecting: key)) empty or repeated") }
            var row: [String: FeatureValue] = [:]
            for (j, field) in record.fields.enumerated() where j != keyColumn && !field.isEmpty {
                let name = header.fields[j]
                if case .numeric = kinds[name]! {
                    guard let number = Double(field.trimmingCharacters(in: .whitespaces)), number.isFinite else {
                        throw Invalid(description: "\(path):\(record.line):\(j + 1): \(name) must be a number, got \(String(reflecting: field))")
                    }
                    row[name] = .number(number)
                } else {
                    row[name] = .string(field)
                }
            }
            rows[key] = row
        }
        self.rows = rows
    }

    /// The CSV records of `text` with the line each starts on (blank lines skipped).
    static func records(_ text: String, path: String) throws(Invalid) -> [(line: Int, fields: [String])] {
        var out: [(line: Int, fields: [String])] = []
        var fields: [String] = [], field = "", quoted = false, line = 1, start = 1, afterQuote = false
        var chars = Array(text.unicodeScalars)[...]
        if chars.first == "\u{FEFF}" { chars = chars.dropFirst() }
        func endRecord() {
            fields.append(field)
            if !(fields.count == 1 && fields[0].isEmpty) { out.append((start, fields)) }
            (fields, field, afterQuote) = ([], "", false)
        }
        var i = chars.startIndex
        while i < chars.endIndex {
            let c = chars[i]
            i = chars.index(after: i)
            if quoted {
                if c == "\"" {
                    if i < chars.endIndex && chars[i] == "\"" { field.unicodeScalars.append("\""); i = chars.index(after: i) } else { quoted = false; afterQuote = true }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"" where field.isEmpty && !afterQuote: quoted = true
            case ",": fields.append(field); (field, afterQuote) = ("", false)
            case "\r" where i < chars.endIndex && chars[i] == "\n": continue
            case "\n": endRecord(); line += 1; start = line
            default:
                guard !afterQuote else { throw Invalid(description: "\(path):\(line): text after a closing quote") }
                field.unicodeScalars.append(c)
            }
        }
        guard !quoted else { throw Invalid(description: "\(path):\(start): unterminated quoted field") }
        if !field.isEmpty || !fields.isEmpty { endRecord() }
        return out
    }
}
