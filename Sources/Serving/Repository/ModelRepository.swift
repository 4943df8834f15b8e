import Foundation

/// A directory of served models (`metarec serve --models DIR`, `docs/DESIGN.md` §Serving fleet):
///
/// ```
/// DIR/<name>/<version>/     a model directory (from metarec train); version: a decimal integer ≥ 1
/// DIR/<name>/LABELS         optional: one "<label> <version>" a line (stable 3, canary 4); # comments
/// ```
/// Reading is a snapshot of the directory: a later scan sees new versions (what a poll or SIGHUP
/// reloads). Directories whose name is not an integer (a version still being copied under a
/// temporary name) are skipped; a label naming a missing version is an error. Replace `LABELS`
/// atomically too (write a temporary file, then rename it over): a scan may read it at any
/// moment, and a file it cannot read or decode is an error, only a missing one means no labels.
public struct ModelRepository: Sendable, Equatable {
    /// One model name's versions (ascending) and labels.
    public struct Model: Sendable, Equatable {
        public var name: String
        public var versions: [Int]
        public var labels: [String: Int]

        /// - Precondition: `versions` is not empty (a scan lists only models with a version).
        public init(name: String, versions: [Int], labels: [String: Int]) {
            precondition(!versions.isEmpty, "ModelRepository.Model \(name): no version")
            self.name = name
            self.versions = versions.sorted()
            self.labels = labels
        }

        /// The version a label names, or the newest version for `latest`.
        public func version(label: String) -> Int? {
            label == "latest" ? versions.last : labels[label]
        }
    }

    public let root: String
    public let models: [String: Model]

    /// Scans `root`.
    ///
    /// - Throws: ``ModelRepositoryError`` for an unreadable root or `LABELS` (a `LABELS` that is
    ///   not UTF-8 included), a malformed `LABELS` line (file and line), or a label naming a
    ///   version that is not there.
    public init(root: String) throws(ModelRepositoryError) {
        let fm = FileManager.default
        let names: [String]
        do {
            names = try fm.contentsOfDirectory(atPath: root).sorted()
        } catch {
            throw .unreadable(path: root, reason: "\(error.localizedDescription)")
        }
        var models: [String: Model] = [:]
        for name in names where !name.hasPrefix(".") {
            let dir = root + "/" + name
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            let versions = ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).compactMap { entry -> Int? in
                guard let v = Int(entry), v >= 1, String(v) == entry else { return nil }
                var sub: ObjCBool = false
                return fm.fileExists(atPath: dir + "/" + entry, isDirectory: &sub) && sub.boolValue ? v : nil
            }.sorted()
            guard !versions.isEmpty else { continue }
            let labels = try Self.labels(at: dir + "/LABELS")
            for (label, v) in labels where !versions.contains(v) {
                throw .missingVersion(path: dir + "/LABELS", label: label, version: v)
            }
            models[name] = Model(name: name, versions: versions, labels: labels)
        }
        self.root = root
        self.models = models
    }

    /// The model directory of `name` at `version`.
    public func path(name: String, version: Int) -> String { "\(root)/\(name)/\(version)" }

    /// Parses a `LABELS` file. Only a file that does not exist means no labels: one that cannot
    /// be read, or is not UTF-8, is an error (read as "no labels" it would move the traffic).
    ///
    /// - Throws: ``ModelRepositoryError/unreadable(path:reason:)`` naming the file, or
    ///   ``ModelRepositoryError/malformedLabels(path:line:reason:)``.
    static func labels(at path: String) throws(ModelRepositoryError) -> [String: Int] {
        guard let text = try readLabels(path) else { return [:] }
        var labels: [String: Int] = [:]
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if fields.isEmpty { continue }
            guard fields.count == 2, let v = Int(fields[1]), v >= 1,
                  fields[0].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                throw .malformedLabels(path: path, line: i + 1, reason: "expected \"<label> <version>\", got \"\(line)\"")
            }
            guard labels.updateValue(v, forKey: String(fields[0])) == nil else {
                throw .malformedLabels(path: path, line: i + 1, reason: "label \(fields[0]) given twice")
            }
        }
        return labels
    }
}

extension ModelRepository {
    /// The text of the `LABELS` file at `path`; `nil` when there is no such file.
    private static func readLabels(_ path: String) throws(ModelRepositoryError) -> String? {
        var info = stat()
        if lstat(path, &info) != 0 {
            let code = errno
            guard code != ENOENT else { return nil }
            throw .unreadable(path: path, reason: String(cString: strerror(code)))
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .unreadable(path: path, reason: "\(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw .unreadable(path: path, reason: "not UTF-8 text") }
        return text
    }
}

/// What is wrong with a model repository or a traffic split.
public enum ModelRepositoryError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case malformedLabels(path: String, line: Int, reason: String)
    case missingVersion(path: String, label: String, version: Int)
    case invalidSplit(String)
    /// The served model cannot be picked from the root (none, several without a name, an unknown name).
    case noModel(root: String, reason: String)
    /// A version directory that does not load as a model.
    case unloadable(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): "cannot read the model repository \(path): \(reason)"
        case let .malformedLabels(path, line, reason): "\(path):\(line): \(reason)"
        case let .missingVersion(path, label, version): "\(path): label \(label) names version \(version), which is not in the repository"
        case .invalidSplit(let reason): "invalid A/B split: \(reason)"
        case let .noModel(root, reason): "model repository \(root): \(reason)"
        case let .unloadable(path, reason): "cannot load the model version \(path): \(reason)"
        }
    }
}
