#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A raw TCP connection to 127.0.0.1 for the connection-limit tests: a client that sends part
/// of a request and holds it, or holds a connection open, and watches when the server closes it.
final class RawConnection: @unchecked Sendable {  // used by one test task at a time
    private(set) var fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LoopbackHTTP.Failure(description: "socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            closeDescriptor(fd)
            throw LoopbackHTTP.Failure(description: "connect: errno \(code)")
        }
        // Short receive waits, so `readUntilClosed` can keep its own deadline.
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close() }

    /// Sends `text`; false when the server has closed (MSG_NOSIGNAL: no SIGPIPE).
    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = sendBytes(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }

    /// What the server sent until it closed the connection (end of stream or reset), or until
    /// `timeout` passed; whether it closed, and when.
    func readUntilClosed(timeout: Duration) -> (data: Data, closed: Bool, elapsed: Duration) {
        let start = ContinuousClock.now
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now - start < timeout {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 {
                data.append(contentsOf: buffer[0..<n])
            } else if n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                return (data, true, ContinuousClock.now - start)
            }
        }
        return (data, false, ContinuousClock.now - start)
    }

    /// Reads until a whole reply (head and Content-Length bytes of body) has arrived, or `timeout`.
    func readReply(timeout: Duration) throws -> LoopbackHTTP.Reply {
        let start = ContinuousClock.now
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now - start < timeout {
            if let end = data.range(of: Data("\r\n\r\n".utf8)) {
                let reply = try LoopbackHTTP.parse(data)
                let length = Int(reply.headers["content-length"] ?? "0") ?? 0
                if data.count - end.upperBound >= length { return reply }
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { data.append(contentsOf: buffer[0..<n]) } else if n == 0 { break }
        }
        return try LoopbackHTTP.parse(data)
    }

    func close() {
        if fd >= 0 { closeDescriptor(fd) }
        fd = -1
    }
}

// At file scope, `close` and `send` are the C functions (inside `RawConnection`, its methods).
private func closeDescriptor(_ fd: Int32) { _ = close(fd) }
private func sendBytes(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int, _ flags: Int32) -> Int { send(fd, bytes, count, flags) }
