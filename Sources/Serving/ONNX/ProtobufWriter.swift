/// The protocol-buffers wire format, as much as an ONNX model needs: varints (wire type 0),
/// length-delimited fields (wire type 2: bytes, strings, nested messages, packed repeated
/// varints). A field is `key = (number << 3) | wireType` as a varint, then its payload.
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    /// Unsigned LEB128: 7 bits a byte, low first, high bit = more follow.
    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// A varint field (`int64`, `int32`, enums; negatives as 10-byte two's complement).
    mutating func field(_ number: Int, int value: Int64) {
        varint(UInt64(number << 3))
        varint(UInt64(bitPattern: value))
    }

    /// A length-delimited field of raw bytes.
    mutating func field(_ number: Int, bytes payload: [UInt8]) {
        varint(UInt64(number << 3 | 2))
        varint(UInt64(payload.count))
        bytes += payload
    }

    mutating func field(_ number: Int, string: String) {
        field(number, bytes: Array(string.utf8))
    }

    /// A nested message, written by `body` into its own writer.
    mutating func field(_ number: Int, message body: (inout ProtobufWriter) -> Void) {
        var nested = ProtobufWriter()
        body(&nested)
        field(number, bytes: nested.bytes)
    }
}
