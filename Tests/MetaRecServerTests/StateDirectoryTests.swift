import Foundation
import MetaRecServer
import ModelDescription
import ParamServer
import Serving
import Testing

/// The model directory is only read; the server's state (the support-store snapshot) lives in
/// the state directory, and a restart from it restores the support rows of earlier events.
@Suite(.serialized) struct StateDirectoryTests {
    /// Every file under `root`: its size, modification time and bytes.
    static func listing(_ root: URL) throws -> [String: (size: Int, modified: Date, bytes: Data)] {
        var out: [String: (size: Int, modified: Date, bytes: Data)] = [:]
        let files = try #require(FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.contentModificationDateKey]))
        for case let url as URL in files {
            let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
            let data = (attributes[.type] as? FileAttributeType) == .typeRegular ? try Data(contentsOf: url) : Data()
            out[url.path] = ((attributes[.size] as? Int) ?? 0, (attributes[.modificationDate] as? Date) ?? .distantPast, data)
        }
        return out
    }

    /// `chmod -R` (`mode` for files, `mode | 0o111` for directories).
    static func chmodTree(_ root: URL, _ mode: Int) throws {
        try FileManager.default.setAttributes([.posixPermissions: mode | 0o111], ofItemAtPath: root.path)
        let files = try #require(FileManager.default.enumerator(atPath: root.path))
        for case let file as String in files {
            let path = root.appendingPathComponent(file).path
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            try FileManager.default.setAttributes([.posixPermissions: isDirectory.boolValue ? mode | 0o111 : mode], ofItemAtPath: path)
        }
    }

    @Test func `a read-only model directory is served unchanged and a restart from the state directory restores support rows`() async throws {
        let root = try temporaryDirectory("metarec-readonly")
        defer {
            try? Self.chmodTree(root, 0o644)
            try? FileManager.default.removeItem(at: root)
        }
        let modelDirectory = root.appendingPathComponent("model"), state = root.appendingPathComponent("state")
        try Fixtures.model().write(to: modelDirectory.path)
        try Self.chmodTree(modelDirectory, 0o444)  // chmod -R a-w
        let before = try Self.listing(modelDirectory)
        #expect(before.count >= 5)
        // As root, permissions do not stop writes: the listing comparison below is what checks it then.
        let writable = access(modelDirectory.path, W_OK) == 0
        #expect(writable == (geteuid() == 0), "a-w leaves the directory writable only for root")

        let events = #"{"events": [{"user": "ro", "item_id": "1", "task0": 1, "timestamp": 1700000000}, {"user": "ro", "item_id": "2", "task1": 0, "timestamp": 1700000000}]}"#
        let score = #"{"user": "ro", "candidates": [{"item_id": "3"}]}"#
        let first = try ServingModel(LoadedModel(path: modelDirectory.path))
        let initialSupport = first.support.count
        try await withServer(first, stateDirectory: state.path) { server, port in
            #expect(try server.restoreState() == false)  // a fresh state directory
            #expect(try await http(port, "POST", "/v1/events", events).status == 200)
            let reply = try await http(port, "POST", "/v1/score", score)
            #expect(reply.json?["support_rows"] as? Int == 2)
        }
        #expect(FileManager.default.fileExists(atPath: ServerConfiguration.supportSnapshotPath(in: state.path)))

        // The model directory: same files, same sizes, same bytes, same times.
        let after = try Self.listing(modelDirectory)
        #expect(after.keys.sorted() == before.keys.sorted())
        for (path, file) in before {
            #expect(after[path]?.size == file.size && after[path]?.bytes == file.bytes, "\(path) changed")
            #expect(after[path]?.modified == file.modified, "\(path) was written")
        }

        // A restart from the same model directory and state: the earlier events' rows are back.
        let second = try ServingModel(LoadedModel(path: modelDirectory.path))
        #expect(second.support.count == initialSupport)
        try await withServer(second, stateDirectory: state.path) { server, port in
            #expect(try server.restoreState())
            let reply = try await http(port, "POST", "/v1/score", score)
            #expect(reply.json?["support_rows"] as? Int == 2)
            #expect(reply.json?["finetuned"] as? Bool == true)
        }
        // And without the state directory, the same model starts from its own support rows only.
        let third = try ServingModel(LoadedModel(path: modelDirectory.path))
        try await withServer(third) { _, port in
            let reply = try await http(port, "POST", "/v1/score", score)
            #expect(reply.json?["support_rows"] as? Int == 0)
        }
    }
}
