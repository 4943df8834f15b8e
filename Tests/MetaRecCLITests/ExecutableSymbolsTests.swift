import Foundation
import Testing

/// `metarec serve` must run on the system allocator: the counting malloc replacement
/// (`CMallocCounter`) belongs to `metarec-bench` only. Reads the symbol tables of the built
/// executables with `nm` (binutils); `metarec-bench` must define `malloc`, or the check could
/// never fail.
@Suite struct ExecutableSymbolsTests {
    @Test(.enabled(if: ExecutableSymbols.nm != nil, "nm (binutils) is not on PATH: cannot read the executables' symbols"),
          arguments: [("metarec", false), ("metarec-bench", true)])
    func `only metarec-bench replaces malloc`(executable: String, replacesMalloc: Bool) throws {
        let directory = try #require(ExecutableSymbols.productsDirectory, "no build products directory next to the test bundle")
        let path = directory.appendingPathComponent(executable).path
        try #require(FileManager.default.isExecutableFile(atPath: path),
                     "\(path) is not built (swift test and swift build --build-tests build every executable product)")
        let defined = try ExecutableSymbols.definedAllocatorFunctions(in: path)
        if replacesMalloc {
            #expect(defined.contains("malloc"), "\(executable) should define malloc (the counting replacement); defines \(defined.sorted())")
        } else {
            #expect(defined.isEmpty, "\(executable) defines \(defined.sorted()): it links a malloc replacement (CMallocCounter?)")
        }
    }
}

/// The build products and their symbol tables.
enum ExecutableSymbols {
    /// The allocator entry points a malloc replacement defines.
    static let allocatorFunctions: Set<String> = ["malloc", "free", "calloc", "realloc", "memalign", "aligned_alloc", "posix_memalign"]

    /// `nm` on PATH.
    static let nm: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/nm" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// Where SwiftPM put the executables: the directory of the test bundle (`.build/<triple>/debug`).
    static var productsDirectory: URL? {
        #if os(macOS)
        return Bundle.allBundles.first { $0.bundlePath.hasSuffix(".xctest") }?.bundleURL.deletingLastPathComponent()
        #else
        return URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        #endif
    }

    /// The allocator functions `path` defines as global text or weak symbols (`nm` types T, W, V, i).
    static func definedAllocatorFunctions(in path: String) throws -> Set<String> {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(nm))
        process.arguments = ["--defined-only", path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()  // before waiting: nm's output fills the pipe
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "nm --defined-only \(path) exited with \(process.terminationStatus)")
        var defined: Set<String> = []
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ")  // "0000000000401230 T malloc"
            guard fields.count >= 3, ["T", "W", "V", "i"].contains(fields[fields.count - 2]) else { continue }
            #if os(macOS)
            let name = String(fields[fields.count - 1].dropFirst())  // Mach-O prefixes C symbols with "_"
            #else
            let name = String(fields[fields.count - 1])
            #endif
            if allocatorFunctions.contains(name) { defined.insert(name) }
        }
        return defined
    }
}
