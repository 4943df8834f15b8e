import CZlib

/// Decompresses a gzip file as it is read (zlib `inflate`, streaming; concatenated members,
/// as written by `cat a.gz b.gz`, are read one after another). The only file that imports zlib.
package final class GzipByteSource: ByteSource {
    let path: String
    let compressed: FileByteSource
    let stream: UnsafeMutablePointer<z_stream>
    let input: UnsafeMutableRawBufferPointer
    var inputEnded = false
    var memberEnded = false

    /// Compressed bytes read per refill.
    static let inputSize = 1 << 16

    package init(compressed: FileByteSource, path: String) throws(DataError) {
        self.path = path
        self.compressed = compressed
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        input = .allocate(byteCount: Self.inputSize, alignment: 16)
        guard czlib_inflate_init_gzip(stream) == Z_OK else {
            stream.deallocate()
            input.deallocate()
            throw .corruptGzip(file: path, reason: "zlib could not be initialised")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
        input.deallocate()
    }

    package func read(into buffer: UnsafeMutableRawBufferPointer) throws(DataError) -> Int {
        guard let out = buffer.baseAddress, buffer.count > 0 else { return 0 }
        stream.pointee.next_out = out.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = UInt32(clamping: buffer.count)
        while stream.pointee.avail_out > 0 {
            if stream.pointee.avail_in == 0 && !inputEnded {
                let n = try compressed.read(into: input)
                if n == 0 { inputEnded = true } else {
                    stream.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.pointee.avail_in = UInt32(n)
                }
            }
            if memberEnded {
                // Another member follows only if there are more compressed bytes.
                if stream.pointee.avail_in == 0 && inputEnded { break }
                guard inflateReset(stream) == Z_OK else { throw corrupt("cannot start the next member") }
                memberEnded = false
            }
            if stream.pointee.avail_in == 0 && inputEnded {
                throw corrupt("truncated (the file ends inside a gzip member)")
            }
            let status = inflate(stream, Z_NO_FLUSH)
            switch status {
            case Z_OK, Z_BUF_ERROR: continue
            case Z_STREAM_END: memberEnded = true
            default:
                let message = stream.pointee.msg.map { String(cString: $0) } ?? "zlib status \(status)"
                throw corrupt(message)
            }
        }
        return buffer.count - Int(stream.pointee.avail_out)
    }

    func corrupt(_ reason: String) -> DataError { .corruptGzip(file: path, reason: reason) }
}

/// Gzip compression in memory (tests and tools that write `.gz` logs).
package enum Gzip {
    /// `bytes` as one gzip member.
    package static func compress(_ bytes: [UInt8], level: Int32 = 6) -> [UInt8] {
        // zlib remembers the stream's address, so it must not move between calls.
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        precondition(czlib_deflate_init_gzip(stream, level) == Z_OK, "deflateInit2 failed")
        defer {
            deflateEnd(stream)
            stream.deinitialize(count: 1)
            stream.deallocate()
        }
        var out = [UInt8](repeating: 0, count: Int(deflateBound(stream, uLong(bytes.count))) + 32)
        var input = bytes
        let produced: Int = input.withUnsafeMutableBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                stream.pointee.next_in = src.baseAddress
                stream.pointee.avail_in = UInt32(src.count)
                stream.pointee.next_out = dst.baseAddress
                stream.pointee.avail_out = UInt32(dst.count)
                let status = deflate(stream, Z_FINISH)
                precondition(status == Z_STREAM_END, "deflate: status \(status)")
                return dst.count - Int(stream.pointee.avail_out)
            }
        }
        return Array(out.prefix(produced))
    }
}
