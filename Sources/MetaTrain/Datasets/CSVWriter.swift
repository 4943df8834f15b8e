#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ParamServer

/// A buffered, atomic CSV writer (RFC 4180 quoting, UTF-8, LF line endings).
///
/// Rows are built field by field (``writeField(_:)-(String)``, ``writeField(_:)-(Int)``,
/// ``writeField(_:decimals:)``) and closed with ``endRow()``, or written whole with
/// ``writeRow(_:)``. Bytes collect in a buffer that is flushed with one `write(2)` per
/// `bufferSize` bytes. The file appears at `path` only on ``close()`` (temporary file, fsync,
/// rename); a writer dropped without `close()` leaves nothing behind.
///
/// A field is quoted when it contains the delimiter, `"`, CR or LF; quotes inside are doubled:
/// ```
/// City of Lost Children, The  →  "City of Lost Children, The"
/// say "hi"                    →  "say ""hi"""
/// ```
/// Not thread-safe: one writer per file.
public final class CSVWriter {
    /// Destination of the file.
    public let path: String
    /// Field delimiter (one ASCII byte).
    public let delimiter: UInt8
    /// Data rows written so far, not counting a header written with ``writeHeader(_:)``.
    public private(set) var rowCount = 0

    private let file: AtomicFileWriter
    private var buffer: [UInt8] = []
    private let bufferSize: Int
    private var fieldsInRow = 0
    private var closed = false

    /// Opens a temporary file next to `path` (the directory must exist).
    /// - Parameters:
    ///   - delimiter: one ASCII character other than `"`, CR and LF.
    ///   - bufferSize: bytes collected between writes.
    /// - Throws: ``DatasetError/invalidOption(name:reason:)`` for a bad delimiter,
    ///   ``DatasetError/writeFailed(file:reason:)`` when the file cannot be created.
    public init(path: String, delimiter: Character = ",", bufferSize: Int = 1 << 18) throws {
        guard let byte = delimiter.asciiValue, byte != UInt8(ascii: "\""), byte != 10, byte != 13 else {
            throw DatasetError.invalidOption(name: "delimiter", reason: "must be one ASCII character other than a quote, CR or LF")
        }
        self.path = path
        self.delimiter = byte
        self.bufferSize = max(bufferSize, 1024)
        do throws(ParamServerError) {
            self.file = try AtomicFileWriter(path: path)
        } catch {
            throw DatasetError(writing: path, error)
        }
        buffer.reserveCapacity(self.bufferSize + 4096)
    }

    /// Writes the header row (not counted in ``rowCount``).
    public func writeHeader(_ names: [String]) throws {
        for name in names { writeField(name) }
        try endRow()
        rowCount -= 1
    }

    /// Writes one whole row.
    public func writeRow(_ fields: some Sequence<String>) throws {
        for field in fields { writeField(field) }
        try endRow()
    }

    /// Appends a text field, quoted when needed.
    public func writeField(_ text: String) {
        var text = text
        text.withUTF8 { writeField(bytes: $0) }
    }

    /// Appends a field given as UTF-8 bytes, quoted when needed.
    public func writeField(bytes: UnsafeBufferPointer<UInt8>) {
        separate()
        // Four memchr scans beat a byte loop by far in debug builds and are no slower in release.
        var needsQuotes = false
        if let base = bytes.baseAddress {
            let n = bytes.count
            needsQuotes = memchr(base, Int32(delimiter), n) != nil || memchr(base, 34, n) != nil
                || memchr(base, 10, n) != nil || memchr(base, 13, n) != nil
        }
        guard needsQuotes else {
            buffer.append(contentsOf: bytes)
            return
        }
        buffer.append(34)
        for byte in bytes {
            if byte == 34 { buffer.append(34) }
            buffer.append(byte)
        }
        buffer.append(34)
    }

    /// Appends an integer field.
    public func writeField(_ value: Int) {
        separate()
        appendInteger(UInt64(value.magnitude), negative: value < 0)
    }

    /// Appends a fixed-point decimal field: `value` rounded half away from zero to `decimals`
    /// places (0…9), e.g. `-0.31416` with 3 decimals → `-0.314`. Non-finite values are
    /// written as `nan`, `inf`, `-inf`; magnitudes ≥ 1e15 in Swift's shortest form.
    public func writeField(_ value: Double, decimals: Int) {
        precondition((0...9).contains(decimals), "writeField: decimals \(decimals) not in 0...9")
        separate()
        let scale = CSVWriter.powersOfTen[decimals]
        let scaled = (value.magnitude * scale).rounded()
        guard value.isFinite, scaled < 1e15 else {
            buffer.append(contentsOf: (value.isNaN ? "nan" : value.isFinite ? "\(value)" : value < 0 ? "-inf" : "inf").utf8)
            return
        }
        let units = UInt64(scaled)
        let divisor = UInt64(scale)
        appendInteger(units / divisor, negative: value < 0 && units != 0)
        guard decimals > 0 else { return }
        buffer.append(UInt8(ascii: "."))
        var fraction = units % divisor
        let start = buffer.count
        for _ in 0..<decimals {
            buffer.append(UInt8(ascii: "0") + UInt8(fraction % 10))
            fraction /= 10
        }
        buffer[start...].reverse()
    }

    /// Ends the current row with LF and flushes the buffer when it is full.
    public func endRow() throws {
        buffer.append(10)
        fieldsInRow = 0
        rowCount += 1
        if buffer.count >= bufferSize { try flush() }
    }

    /// Flushes, fsyncs and renames the file into place. Later writes are programmer errors.
    public func close() throws {
        precondition(!closed, "CSVWriter.close called twice for \(path)")
        precondition(fieldsInRow == 0, "CSVWriter.close in the middle of a row of \(path)")
        closed = true
        try flush()
        do throws(ParamServerError) {
            try file.commit()
        } catch {
            throw DatasetError(writing: path, error)
        }
    }

    /// `value` rounded half away from zero to `decimals` places, as written by
    /// ``writeField(_:decimals:)``: generators round with this so labels are computed
    /// from exactly the values in the file.
    public static func roundedForOutput(_ value: Double, decimals: Int) -> Double {
        let scale = powersOfTen[decimals]
        return (value * scale).rounded() / scale
    }

    private static let powersOfTen: [Double] = (0...9).map { (0..<$0).reduce(1.0) { r, _ in r * 10 } }

    private func separate() {
        precondition(!closed, "CSVWriter: write after close of \(path)")
        if fieldsInRow > 0 { buffer.append(delimiter) }
        fieldsInRow += 1
    }

    private func appendInteger(_ magnitude: UInt64, negative: Bool) {
        if negative { buffer.append(UInt8(ascii: "-")) }
        let start = buffer.count
        var rest = magnitude
        repeat {
            buffer.append(UInt8(ascii: "0") + UInt8(rest % 10))
            rest /= 10
        } while rest > 0
        buffer[start...].reverse()
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        do throws(ParamServerError) {
            try file.write(buffer)
        } catch {
            throw DatasetError(writing: path, error)
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
