import Foundation
@testable import ModelDescription
import Testing

/// Versions behind an atomically replaced pointer: what readers see, what cleaning removes.
@Suite struct VersionedDirectoryTests {
    static func temporaryRoot() -> String {
        NSTemporaryDirectory() + "/metarec-versioned-\(UUID().uuidString)"
    }

    static func stage(_ versions: VersionedDirectory, _ name: String, contents: String) throws -> String {
        let staging = try versions.beginStaging(name)
        try AtomicFile.write(contents, to: staging + "/file.txt")
        return staging
    }

    @Test func `the pointer names the published version; staging and unreferenced versions are never current`() throws {
        let root = Self.temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let versions = VersionedDirectory(root: root, pointer: "CURRENT", prefix: "v-")
        #expect(try versions.currentName() == nil)
        let first = try Self.stage(versions, "v-1", contents: "one")
        #expect(try versions.currentName() == nil, "a staged version is not published")
        try versions.publish(staged: first, as: "v-1", label: "test")
        #expect(try versions.currentName() == "v-1")
        #expect(!FileManager.default.fileExists(atPath: first))

        let second = try Self.stage(versions, "v-2", contents: "two")
        #expect(try versions.currentName() == "v-1")
        try versions.publish(staged: second, as: "v-2", label: "test")
        #expect(try versions.currentPath() == root + "/v-2")
        #expect(try String(contentsOfFile: root + "/v-2/file.txt", encoding: .utf8) == "two")
        #expect(throws: CheckpointError.self) { try versions.publish(staged: try Self.stage(versions, "v-2", contents: "x"), as: "v-2", label: "test") }
        #expect(try versions.currentName() == "v-2")
    }

    @Test func `removing stale entries keeps the current version, the kept ones and foreign entries`() throws {
        let root = Self.temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let versions = VersionedDirectory(root: root, pointer: "CURRENT", prefix: "v-")
        for name in ["v-1", "v-2", "v-3"] { try versions.publish(staged: try Self.stage(versions, name, contents: name), as: name, label: "test") }
        _ = try Self.stage(versions, "v-4", contents: "killed")  // a killed writer's staging directory
        try FileManager.default.createDirectory(atPath: root + "/checkpoint", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: root + "/.CURRENT.tmp-99-1", contents: Data("v-9".utf8))
        versions.removeStale(keeping: ["v-2"])
        let left = try FileManager.default.contentsOfDirectory(atPath: root).sorted()
        #expect(left == ["CURRENT", "checkpoint", "v-2", "v-3"])
        versions.removeStale()
        #expect(try FileManager.default.contentsOfDirectory(atPath: root).sorted() == ["CURRENT", "checkpoint", "v-3"])
    }

    @Test(arguments: ["v-9\n", "garbage\n"])
    func `a damaged pointer keeps every version: cleaning removes only staging and temporary files`(pointer: String) throws {
        let root = Self.temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let versions = VersionedDirectory(root: root, pointer: "CURRENT", prefix: "v-")
        for name in ["v-1", "v-2"] { try versions.publish(staged: try Self.stage(versions, name, contents: name), as: name, label: "test") }
        _ = try Self.stage(versions, "v-3", contents: "killed")
        try AtomicFile.write(pointer, to: versions.pointerPath)
        versions.removeStale()
        #expect(try FileManager.default.contentsOfDirectory(atPath: root).sorted() == ["CURRENT", "v-1", "v-2"])
    }

    @Test(arguments: ["../elsewhere", ".staging-v-1-7", "v-1/../../x", "", "w-1", "v-"])
    func `a pointer that is not a version name is refused, naming the pointer`(content: String) throws {
        let root = Self.temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let versions = VersionedDirectory(root: root, pointer: "CURRENT", prefix: "v-")
        try FileManager.default.createDirectory(atPath: root + "/.staging-v-1-7", withIntermediateDirectories: true)
        try AtomicFile.write(content + "\n", to: versions.pointerPath)
        let error = try #require(throws: CheckpointError.self) { try versions.currentName() }
        #expect(error.description.hasPrefix(versions.pointerPath + ": malformed: expected a version name v-…"), "\(error)")
    }

    @Test func `a pointer naming a missing version is refused`() throws {
        let root = Self.temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let versions = VersionedDirectory(root: root, pointer: "CURRENT", prefix: "v-")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try AtomicFile.write("v-7\n", to: versions.pointerPath)
        let error = try #require(throws: CheckpointError.self) { try versions.currentName() }
        #expect(error == .malformed(path: versions.pointerPath, reason: "names v-7, which is not a directory in \(root)"))
    }
}
