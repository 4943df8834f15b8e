#if canImport(Darwin)
import Darwin
#else
import Glibc
#endif

/// A stream of bytes the CSV tokenizer reads in chunks: a plain file or a gzip-decompressed one.
package protocol ByteSource: AnyObject {
    /// Fills a prefix of `buffer` and returns its length; 0 means the end of the stream.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(DataError) -> Int
}

/// Opens `path` and returns a plain or a gzip source, decided by the first two bytes
/// (`1f 8b` is gzip, whatever the file name).
package func openByteSource(path: String) throws(DataError) -> any ByteSource {
    let file = try FileByteSource(path: path)
    var magic: (UInt8, UInt8) = (0, 0)
    let n = withUnsafeMutableBytes(of: &magic) { pread(file.descriptor, $0.baseAddress, 2, 0) }
    if n == 2, magic == (0x1F, 0x8B) { return try GzipByteSource(compressed: file, path: path) }
    return file
}

/// Bytes of a file, read with `read(2)` (no buffering of its own: the tokenizer's buffer is the only one).
package final class FileByteSource: ByteSource {
    let path: String
    let descriptor: Int32

    package init(path: String) throws(DataError) {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw .unreadable(file: path, reason: Self.lastError()) }
        var info = stat()
        if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw .unreadable(file: path, reason: "is a directory")
        }
        descriptor = fd
    }

    deinit { close(descriptor) }

    package func read(into buffer: UnsafeMutableRawBufferPointer) throws(DataError) -> Int {
        guard buffer.count > 0 else { return 0 }
        while true {
            #if canImport(Darwin)
            let n = Darwin.read(descriptor, buffer.baseAddress, buffer.count)
            #else
            let n = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            #endif
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw .unreadable(file: path, reason: Self.lastError())
        }
    }

    static func lastError() -> String { String(cString: strerror(errno)) }
}
