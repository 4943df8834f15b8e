#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import ParamServer

/// A directory whose contents are replaced as whole versions, never file by file
/// (`docs/DESIGN.md` §Formats): each version is a subdirectory, and a *pointer file* names the
/// current one. Used for model directories (`CURRENT` → `v-<model version>/`) and for training
/// checkpoints (`LATEST` → `gen-<n>/`, `BEST` → `best-<id>/`).
///
/// ```
/// write   ROOT/.staging-<name>-<pid>/…      every file through AtomicFileWriter (fsync, rename, fsync dir)
/// rename  → ROOT/<name>/, fsync ROOT
/// replace ROOT/<pointer> with "<name>\n"     AtomicFileWriter: the one atomic step that publishes
/// ```
///
/// A kill at any instant leaves the pointer naming a complete version (the previous one until
/// the pointer's rename, the new one from then on). Readers only follow the pointer, so a staging
/// directory or an unreferenced version left by a kill is never read; ``removeStale(keeping:)``
/// reclaims them. One writer at a time per root.
public struct VersionedDirectory: Sendable {
    /// The directory holding the pointer and the versions.
    public let root: String
    /// The pointer file's name (`CURRENT`, `LATEST`, `BEST`).
    public let pointer: String
    /// Every version's name starts with this (`v-`, `gen-`, `best-`); other entries are never removed.
    public let prefix: String

    /// The names of staging directories (and the pointer's temporary files) start with this.
    public static let stagingPrefix = ".staging-"

    public init(root: String, pointer: String, prefix: String) {
        self.root = root
        self.pointer = pointer
        self.prefix = prefix
    }

    /// The pointer file.
    public var pointerPath: String { root + "/" + pointer }

    /// Whether `name` is a well-formed version name: the prefix, then letters, digits, `-` or `_`.
    public func isVersionName(_ name: String) -> Bool {
        name.hasPrefix(prefix) && name.count > prefix.count
            && name.utf8.allSatisfy { $0 == 45 || $0 == 95 || (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) }
    }

    /// The name of the current version, or nil when there is no pointer file.
    /// - Throws: ``CheckpointError/malformed(path:reason:)`` naming the pointer when it does not
    ///   hold a version name or names a missing directory.
    public func currentName() throws -> String? {
        guard let data = FileManager.default.contents(atPath: pointerPath) else {
            guard FileManager.default.fileExists(atPath: pointerPath) else { return nil }
            throw CheckpointError.io(path: pointerPath, reason: "cannot read")
        }
        let name = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard isVersionName(name) else {
            throw CheckpointError.malformed(path: pointerPath, reason: "expected a version name \(prefix)…, found \(String(reflecting: String(name.prefix(80))))")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root + "/" + name, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CheckpointError.malformed(path: pointerPath, reason: "names \(name), which is not a directory in \(root)")
        }
        return name
    }

    /// The current version's directory, or nil when there is no pointer file.
    public func currentPath() throws -> String? { try currentName().map { root + "/" + $0 } }

    /// Creates an empty staging directory for the version `name` and returns its path (the root
    /// is created when missing; a leftover staging directory of the same name is removed first).
    public func beginStaging(_ name: String) throws -> String {
        precondition(isVersionName(name), "not a version name for prefix \(prefix): \(name)")
        let staging = root + "/" + Self.stagingPrefix + name + "-\(getpid())"
        try? FileManager.default.removeItem(atPath: staging)
        do {
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError.io(path: staging, reason: "cannot create directory: \(error.localizedDescription)")
        }
        return staging
    }

    /// Publishes a staged version: renames it to `ROOT/<name>` and replaces the pointer.
    ///
    /// The staged files must already be durable (written through `AtomicFileWriter`, which
    /// fsyncs each file and the staging directory). `label` names the crash points
    /// (`<label>.renamed`, `<label>.published`).
    /// - Throws: ``CheckpointError/io(path:reason:)`` naming the failing path; the pointer then
    ///   still names the previous version.
    public func publish(staged: String, as name: String, label: String) throws {
        precondition(isVersionName(name), "not a version name for prefix \(prefix): \(name)")
        let target = root + "/" + name
        if (try? currentName()) == name {
            throw CheckpointError.io(path: target, reason: "is the current version; a new version needs a new name")
        }
        try? FileManager.default.removeItem(atPath: target)  // an unpublished leftover of a killed run
        guard rename(staged, target) == 0 else {
            throw CheckpointError.io(path: target, reason: "cannot rename \(staged): \(String(cString: strerror(errno)))")
        }
        try Self.syncDirectory(root)
        CrashPoint.reached("\(label).renamed")
        try AtomicFile.write(name + "\n", to: pointerPath)
        CrashPoint.reached("\(label).published")
    }

    /// Removes what killed or finished writers left behind: staging directories, the pointer's
    /// temporary files, and every version other than the current one and `keeping`.
    /// Entries that are neither (say a model's `checkpoint/`) are left alone. Best effort: a
    /// failure to remove leaves the entry for the next call. When the pointer cannot be read (it
    /// is malformed, names a missing version, or reading it fails) no version is removed: the
    /// current one cannot be told apart, and a damaged pointer is repairable by hand only while
    /// the versions exist.
    public func removeStale(keeping: Set<String> = []) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root) else { return }
        let current: String?
        let versionsRemovable: Bool
        do {
            current = try currentName()
            versionsRemovable = true
        } catch {
            (current, versionsRemovable) = (nil, false)
        }
        for name in names {
            let stale = name.hasPrefix(Self.stagingPrefix) || name.hasPrefix(".\(pointer).tmp-")
                || (versionsRemovable && isVersionName(name) && name != current && !keeping.contains(name))
            if stale { try? FileManager.default.removeItem(atPath: root + "/" + name) }
        }
    }

    /// fsyncs a directory, so that renames inside it survive a crash.
    static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError.io(path: path, reason: "cannot open directory: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw CheckpointError.io(path: path, reason: "fsync directory failed: \(String(cString: strerror(errno)))") }
    }
}
