/// A small ONNX graph builder over ``ProtobufWriter``: float/int64 initialisers, nodes with
/// integer attributes, float inputs/outputs with fixed or symbolic dimensions, and the
/// ModelProto around them. Field numbers are those of `onnx.proto` (ModelProto, GraphProto,
/// NodeProto, AttributeProto, TensorProto, ValueInfoProto, TypeProto, TensorShapeProto);
/// protobuf allows a message's fields in any order, so the GraphProto's repeated fields
/// (node 1, initializer 5, input 11, output 12) are appended as they come — only the nodes'
/// relative order matters (topological, as ONNX requires).
struct ONNXGraph {
    /// `TensorProto.DataType`.
    enum ElementType: Int64 { case float = 1, int64 = 7 }

    /// A dimension: fixed, or symbolic (`"C"`, the candidate count).
    enum Dimension { case value(Int), symbol(String) }

    private var graph = ProtobufWriter()

    /// A float initialiser of `shape` (row-major `values`), stored as little-endian `raw_data`.
    @discardableResult
    mutating func constant(_ name: String, shape: [Int], floats values: [Float]) -> String {
        precondition(shape.reduce(1, *) == values.count, "ONNXGraph: \(name) has \(values.count) values for shape \(shape)")
        var raw: [UInt8] = []
        raw.reserveCapacity(values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { raw += $0 } }
        return tensor(name, shape: shape, type: .float, raw: raw)
    }

    /// A 1-D int64 initialiser (Slice's starts, ends and axes).
    @discardableResult
    mutating func constant(_ name: String, int64 values: [Int64]) -> String {
        var raw: [UInt8] = []
        for v in values { withUnsafeBytes(of: v.littleEndian) { raw += $0 } }
        return tensor(name, shape: [values.count], type: .int64, raw: raw)
    }

    private mutating func tensor(_ name: String, shape: [Int], type: ElementType, raw: [UInt8]) -> String {
        graph.field(5) { t in                              // GraphProto.initializer: TensorProto
            for d in shape { t.field(1, int: Int64(d)) }   // dims
            t.field(2, int: type.rawValue)                 // data_type
            t.field(8, string: name)                       // name
            t.field(9, bytes: raw)                         // raw_data
        }
        return name
    }

    /// A node `op(inputs) → output` with integer attributes; returns the output's name.
    @discardableResult
    mutating func node(_ op: String, _ inputs: [String], output: String, attributes: [(String, Int64)] = []) -> String {
        graph.field(1) { n in                              // GraphProto.node: NodeProto
            for i in inputs { n.field(1, string: i) }      // input
            n.field(2, string: output)                     // output
            n.field(3, string: output)                     // name (its output's)
            n.field(4, string: op)                         // op_type
            for (key, value) in attributes {
                n.field(5) { a in                          // AttributeProto: name 1, i 3, type 20 = INT (2)
                    a.field(1, string: key)
                    a.field(3, int: value)
                    a.field(20, int: 2)
                }
            }
        }
        return output
    }

    /// A float graph input (GraphProto.input, 11).
    mutating func input(_ name: String, shape: [Dimension]) { valueInfo(11, name, shape) }
    /// A float graph output (GraphProto.output, 12).
    mutating func output(_ name: String, shape: [Dimension]) { valueInfo(12, name, shape) }

    /// ValueInfoProto { name 1, type 2: TypeProto { tensor_type 1: { elem_type 1, shape 2: { dim 1: { dim_value 1 | dim_param 2 } } } } }.
    private mutating func valueInfo(_ field: Int, _ name: String, _ shape: [Dimension]) {
        graph.field(field) { v in
            v.field(1, string: name)
            v.field(2) { type in
                type.field(1) { tensor in
                    tensor.field(1, int: ElementType.float.rawValue)
                    tensor.field(2) { s in
                        for d in shape {
                            s.field(1) { dim in
                                switch d {
                                case .value(let n): dim.field(1, int: Int64(n))
                                case .symbol(let p): dim.field(2, string: p)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The serialised ModelProto: ir_version 1, producer_name 2, graph 7 (name 2), opset_import 8 (OperatorSetIdProto: domain 1 = "", version 2 = the opset).
    func model(name: String, opset: Int = 17, irVersion: Int = 8) -> [UInt8] {
        var model = ProtobufWriter()
        model.field(1, int: Int64(irVersion))
        model.field(2, string: "metarec")
        var g = graph
        g.field(2, string: name)
        model.field(7, bytes: g.bytes)
        model.field(8) { o in
            o.field(1, string: "")
            o.field(2, int: Int64(opset))
        }
        return model.bytes
    }
}
