#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import ParamServer

@Suite struct AtomicFileWriterTests {
    let directory: String = {
        var template = Array("/tmp/atomic-writer-test-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }()

    func contents(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    func entries() -> [String] { directoryEntries(directory) }

    /// Writes `text` to `path` through the writer and commits.
    func replace(_ path: String, with text: String) throws {
        let file = try AtomicFileWriter(path: path)
        try file.write(text)
        try file.commit()
    }

    @Test func `streamed writes appear at the path only on commit`() throws {
        let path = directory + "/data.csv"
        let file = try AtomicFileWriter(path: path)
        #expect(AtomicFileWriter.directory(of: file.temporaryPath) == directory)
        #expect(file.temporaryPath.hasPrefix(directory + "/.data.csv.tmp-"))
        try file.write("a,b\n")
        try file.write(Array("1,2\n".utf8))
        #expect(contents(path) == nil)
        try file.commit()
        #expect(contents(path) == "a,b\n1,2\n")
        #expect(entries() == ["data.csv"])
    }

    @Test func `two writers of one path in one process do not collide`() throws {
        let path = directory + "/x"
        let a = try AtomicFileWriter(path: path), b = try AtomicFileWriter(path: path)
        #expect(a.temporaryPath != b.temporaryPath)
        try a.write("a")
        try b.write("b")
        try a.commit()
        try b.commit()
        #expect(contents(path) == "b")
        #expect(entries() == ["x"])
    }

    @Test func `a writer dropped before commit leaves the previous file and no temporary file`() throws {
        let path = directory + "/model.bin"
        try replace(path, with: "old")
        do {
            let file = try AtomicFileWriter(path: path)
            try file.write("half of the new")
        }
        #expect(contents(path) == "old")
        #expect(entries() == ["model.bin"])
    }

    #if os(Linux)
    @Test func `a failed write leaves the previous file intact and no temporary file behind`() throws {
        let path = directory + "/snapshot"
        try replace(path, with: "previous")
        let file = try AtomicFileWriter(path: path)
        try file.write("new ")
        // Swap the temporary file's descriptor for /dev/full: the next write fails with ENOSPC,
        // as it would on a full disk. The descriptor is found through /proc/self/fd.
        let fd = try #require(descriptor(of: file.temporaryPath))
        let full = open("/dev/full", O_WRONLY | O_CLOEXEC)
        try #require(full >= 0)
        #expect(dup2(full, fd) == fd)
        close(full)
        #expect(throws: ParamServerError.io(path: file.temporaryPath, operation: "write", code: ENOSPC)) {
            try file.write("bytes")
        }
        file.discard()
        #expect(contents(path) == "previous")
        #expect(entries() == ["snapshot"])
    }

    /// The descriptor of this process that has `path` open.
    func descriptor(of path: String) -> Int32? {
        guard let d = opendir("/proc/self/fd") else { return nil }
        defer { closedir(d) }
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            guard let fd = Int32(name) else { continue }
            var target = [CChar](repeating: 0, count: 4096)
            let n = readlink("/proc/self/fd/\(name)", &target, target.count - 1)
            if n > 0, String(decoding: target.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self) == path { return fd }
        }
        return nil
    }
    #endif

    @Test func `a failed rename removes the temporary file and leaves the target alone`() throws {
        let path = directory + "/occupied"
        #expect(mkdir(path, 0o755) == 0)
        #expect(mkdir(path + "/child", 0o755) == 0)
        let file = try AtomicFileWriter(path: path)
        try file.write("text")
        #expect(throws: ParamServerError.self) { try file.commit() }
        #expect(entries() == ["occupied"])
        #expect(access(path + "/child", F_OK) == 0)
    }

    @Test func `a missing directory fails at open and creates nothing`() throws {
        let path = directory + "/missing/file"
        #expect {
            try AtomicFileWriter(path: path)
        } throws: { error in
            guard case let .io(failedPath, operation, code) = error as? ParamServerError else { return false }
            return failedPath.hasPrefix(directory + "/missing/.file.tmp-") && operation == "open" && code == ENOENT
        }
        #expect(entries().isEmpty)
    }
}
