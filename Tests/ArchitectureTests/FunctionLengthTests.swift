import Foundation
import Testing

/// No function or initializer under `Sources/` is longer than ``limit`` lines (C kernels are `.c` files and
/// are not read). A body is found by brace matching over the code that remains once comments and
/// string literals are removed, so a `{` in a string or a comment never counts.
///
/// A function's length counts the lines from its `func` / `init` keyword to its closing brace,
/// both included (attributes and doc comments above it do not count):
///
/// ```
/// func f(         ← 1
///     x: Int      ← 2
/// ) {             ← 3
///     a()         ← 4
/// }               ← 5                             f has 5 lines
/// ```
@Suite struct FunctionLengthTests {
    /// The longest body allowed, in lines.
    static let limit = 80

    @Test func `no function or initializer in Sources is longer than the limit`() throws {
        let sources = ModuleGraphTests.root.appendingPathComponent("Sources")
        var long: [String] = []
        guard let files = FileManager.default.enumerator(atPath: sources.path) else {
            Issue.record("cannot list \(sources.path)")
            return
        }
        var checked = 0
        for case let file as String in files where file.hasSuffix(".swift") {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            checked += 1
            for body in Self.functionBodies(in: text) where body.lines > Self.limit {
                long.append("Sources/\(file):\(body.line): \(body.name) has \(body.lines) lines (limit \(Self.limit))")
            }
        }
        #expect(checked > 100, "found only \(checked) Swift files under \(sources.path)")
        #expect(long.isEmpty, "split these by concern:\n\(long.sorted().joined(separator: "\n"))")
    }

    @Test func `bodies are found by braces outside comments and strings`() {
        let text = #"""
        /// func inComment() {
        struct S {
            func a() -> String {
                let s = "}"      // }
                let t = """
                    { \( f({ 1 }) ) }
                    """
                /* { /* nested } */ } */
                return s + t + #"\(x) " } "#
            }
            init?(x: Int) where T: P {
                self.init()
                _ = x
            }
            func requirement()
            var p: Int { 1 }
            func b<T>(_ f: () -> T = { fatalError() }) {}
        }
        """#
        let bodies = Self.functionBodies(in: text)
        #expect(bodies.map(\.name) == ["a", "init", "b"])
        #expect(bodies.map(\.line) == [3, 11, 17])
        #expect(bodies.map(\.lines) == [8, 4, 1])
    }

    /// A function or initializer and its body: where it is declared (1-based line of the keyword)
    /// and how many lines it spans from there to its closing brace, both included.
    struct Body: Equatable {
        var name: String
        var line: Int
        var lines: Int
    }

    enum Token: Equatable {
        case word(String, line: Int)
        case punctuation(UInt8, line: Int)
        case string

        var word: String? { if case .word(let w, _) = self { w } else { nil } }
        var byte: UInt8? { if case .punctuation(let b, _) = self { b } else { nil } }
        var line: Int {
            switch self {
            case .word(_, let line), .punctuation(_, let line): line
            case .string: 0
            }
        }
    }

    /// Every `func`, `init` and `deinit` with a body, in source order.
    static func functionBodies(in text: String) -> [Body] {
        let tokens = codeTokens(Array(text.utf8))
        var bodies: [Body] = []
        for (index, token) in tokens.enumerated() {
            guard let word = token.word, ["func", "init", "deinit"].contains(word) else { continue }
            if index > 0, tokens[index - 1].byte == UInt8(ascii: ".") { continue }   // `self.init(`, `.init(`
            let name = word == "func" ? (index + 1 < tokens.count ? tokens[index + 1].word ?? "?" : "?") : word
            guard let open = bodyStart(tokens, after: index), let close = matchingBrace(tokens, open) else { continue }
            bodies.append(Body(name: name, line: token.line, lines: tokens[close].line - token.line + 1))
        }
        return bodies
    }

    /// The token index of the body's `{`: the first `{` outside parentheses and brackets, unless a
    /// `}` or another declaration comes first (a protocol requirement has no body).
    static func bodyStart(_ tokens: [Token], after keyword: Int) -> Int? {
        let declarations: Set<String> = [
            "func", "init", "deinit", "var", "let", "case", "subscript", "typealias", "associatedtype",
            "struct", "class", "enum", "protocol", "extension", "actor", "import",
        ]
        var depth = 0
        var index = keyword + 1
        while index < tokens.count {
            let token = tokens[index]
            switch token.byte {
            case UInt8(ascii: "("), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: ")"), UInt8(ascii: "]"): depth -= 1
            case UInt8(ascii: "{") where depth == 0: return index
            case UInt8(ascii: "}") where depth == 0: return nil
            default:
                if depth == 0, let word = token.word, declarations.contains(word),
                   tokens[index - 1].byte != UInt8(ascii: ".") {
                    return nil
                }
            }
            index += 1
        }
        return nil
    }

    static func matchingBrace(_ tokens: [Token], _ open: Int) -> Int? {
        var depth = 0
        for index in open..<tokens.count {
            switch tokens[index].byte {
            case UInt8(ascii: "{"): depth += 1
            case UInt8(ascii: "}"):
                depth -= 1
                if depth == 0 { return index }
            default: break
            }
        }
        return nil
    }

    /// Words and punctuation of Swift code with comments (nested block comments too) removed and
    /// each string literal (plain, multi-line, raw `#"…"#`) reduced to one ``Token/string``; the
    /// code inside an interpolation `\( … )` is kept, since it may hold braces of closures.
    static func codeTokens(_ bytes: [UInt8]) -> [Token] {
        enum Mode { case code, string(hashes: Int, multiline: Bool) }
        struct Interpolation { var hashes: Int; var multiline: Bool; var depth: Int }
        let quote = UInt8(ascii: "\""), hash = UInt8(ascii: "#"), slash = UInt8(ascii: "/")
        let star = UInt8(ascii: "*"), newline = UInt8(ascii: "\n"), backslash = UInt8(ascii: "\\")
        var tokens: [Token] = []
        var interpolations: [Interpolation] = []
        var mode = Mode.code
        var depth = 0, line = 1, i = 0
        let n = bytes.count
        func at(_ k: Int) -> UInt8 { k < n ? bytes[k] : 0 }
        func hashes(from k: Int) -> Int {
            var c = 0
            while at(k + c) == hash { c += 1 }
            return c
        }
        func isWordByte(_ b: UInt8) -> Bool {
            (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 95 || b >= 0x80
        }
        while i < n {
            let b = bytes[i]
            switch mode {
            case .code:
                if b == newline {
                    line += 1; i += 1
                } else if b == slash && at(i + 1) == slash {
                    while i < n && bytes[i] != newline { i += 1 }
                } else if b == slash && at(i + 1) == star {
                    var nesting = 0
                    repeat {
                        if at(i) == slash && at(i + 1) == star { nesting += 1; i += 2 }
                        else if at(i) == star && at(i + 1) == slash { nesting -= 1; i += 2 }
                        else { if at(i) == newline { line += 1 }; i += 1 }
                    } while nesting > 0 && i < n
                } else if b == quote || (b == hash && at(i + hashes(from: i)) == quote) {
                    let h = b == hash ? hashes(from: i) : 0
                    i += h
                    let multiline = at(i + 1) == quote && at(i + 2) == quote
                    i += multiline ? 3 : 1
                    mode = .string(hashes: h, multiline: multiline)
                } else if isWordByte(b) || b == hash {
                    let start = i
                    i += 1
                    while i < n && isWordByte(bytes[i]) { i += 1 }
                    tokens.append(.word(String(decoding: bytes[start..<i], as: UTF8.self), line: line))
                } else if b == UInt8(ascii: "`") {
                    let start = i + 1
                    i += 1
                    while i < n && bytes[i] != UInt8(ascii: "`") && bytes[i] != newline { i += 1 }
                    tokens.append(.word(String(decoding: bytes[start..<i], as: UTF8.self), line: line))
                    i += 1
                } else if b == UInt8(ascii: ")"), let top = interpolations.last, depth - 1 == top.depth {
                    depth -= 1
                    interpolations.removeLast()
                    mode = .string(hashes: top.hashes, multiline: top.multiline)
                    i += 1
                } else {
                    if b == UInt8(ascii: "(") { depth += 1 }
                    if b == UInt8(ascii: ")") { depth -= 1 }
                    if b > 32 { tokens.append(.punctuation(b, line: line)) }
                    i += 1
                }
            case .string(let h, let multiline):
                if b == newline {
                    line += 1; i += 1
                } else if b == backslash && hashes(from: i + 1) >= h {
                    i += 1 + h
                    if at(i) == UInt8(ascii: "(") {
                        interpolations.append(Interpolation(hashes: h, multiline: multiline, depth: depth))
                        depth += 1
                        mode = .code
                        i += 1
                    } else {
                        if at(i) == newline { line += 1 }
                        i += 1
                    }
                } else if b == quote && (!multiline || (at(i + 1) == quote && at(i + 2) == quote)) {
                    let end = i + (multiline ? 3 : 1)
                    if hashes(from: end) >= h {
                        i = end + h
                        tokens.append(.string)
                        mode = .code
                    } else {
                        i += 1
                    }
                } else {
                    i += 1
                }
            }
        }
        return tokens
    }
}
