import QData

/// A query checked in the bytes of the message it came in (``QueryParser/check(queryIn:range:routing:decodingArgumentsUpTo:)``).
public struct CheckedQuery: Sendable {
    /// The function the query calls.
    public var function: String
    /// The query decoded, when it came as text or a symbol, or as a list whose arguments are
    /// all small: check and route it as any ``ParsedQuery`` (``SecureInvocation``,
    /// ``RoutingSpec/routingString(for:)``). Nil when an argument was too large to decode:
    /// then the query passed ``SecureInvocation``'s checks but the allowlist's in place.
    public var parsed: ParsedQuery?
    /// Where each argument's bytes lie in the message (a list query; empty for text).
    public var argumentRanges: [Range<Int>]
    /// The routing string under the spec given, rendered in place; nil when ``parsed`` is set,
    /// or when no spec was given (a servant, which routes nothing).
    public var routing: RoutingString?
    /// The most bytes of the message decoded into one value while checking it (the whole
    /// query when it was small, else the largest small argument or routing chunk): what the
    /// check held at once besides the message.
    public var largestDecode = 0
}

extension QueryParser {
    /// The largest argument of a list query decoded into a ``QData/QValue``; a larger one is
    /// checked and rendered for routing in place, in the message's bytes.
    public static let largestDecodedArgument = 64 * 1024

    /// Checks the query item of a `(id; query[; options])` message in place: `bytes` is the
    /// plain little-endian message, `range` the query item's bytes (checked already, as
    /// ``QData/QIPCInPlace/checkValue(in:at:depth:)`` checks values).
    ///
    /// A query of up to `limit` bytes, or one that is not a general list (text, a symbol), is
    /// decoded and parsed as ``parse(_:)-(QValue)`` parses it. A larger list query is checked
    /// without decoding its large arguments: the function name as ``parse(_:)-(QValue)``
    /// checks it, and each argument for nested calls (a general list headed by a symbol, at
    /// any depth, as ``SecureInvocation`` refuses them), with the same errors; its routing
    /// string under `spec` is rendered a piece at a time (``RoutingSpec/bounded(_:)`` of the
    /// same text), unless `spec` is nil. Arguments of up to `limit` bytes are still decoded.
    public static func check(
        queryIn bytes: Span<UInt8>, range: Range<Int>, routing spec: RoutingSpec?,
        decodingArgumentsUpTo limit: Int = largestDecodedArgument
    ) throws(QueryError) -> CheckedQuery {
        do {
            let type = try QIPCInPlace.type(in: bytes, at: range.lowerBound)
            // Text over the limit is refused before it is decoded.
            if type == 10 {
                try checkLength(try QIPCInPlace.count(in: bytes, at: range.lowerBound + 2, minimumElementSize: 1))
            }
            guard range.count > limit, type == 0 else {
                let parsed = try parse(try QIPCInPlace.decodeValue(in: bytes, range: range))
                return CheckedQuery(
                    function: parsed.function, parsed: parsed, argumentRanges: [], routing: nil, largestDecode: range.count)
            }
            return try checkList(in: bytes, range: range, routing: spec, limit: limit)
        } catch let error as QIPCError {
            throw QueryError(.unsupportedForm, "the query cannot be read: \(error)")
        } catch let error as QueryError {
            throw error
        } catch {
            throw QueryError(.unsupportedForm, "\(error)")
        }
    }

    private static func checkList(
        in bytes: Span<UInt8>, range: Range<Int>, routing spec: RoutingSpec?, limit: Int
    ) throws -> CheckedQuery {
        let count = try QIPCInPlace.count(in: bytes, at: range.lowerBound + 2, minimumElementSize: 1)
        guard count > 0 else { throw QueryError(.emptyQuery, "the query is an empty list") }
        let head = range.lowerBound + 6
        let headEnd = try QIPCInPlace.checkValue(in: bytes, at: head, depth: 2)
        guard try QIPCInPlace.type(in: bytes, at: head) == -11 else {
            let value = try QIPCInPlace.decodeValue(in: bytes, range: head..<headEnd, depth: 2)
            throw QueryError(
                .unsupportedForm,
                "a list query must start with the function name as a symbol, e.g."
                    + " (`proc1;`IBM); item 0 is \(kindName(of: value))")
        }
        let (function, _) = try QIPCInPlace.symbol(in: bytes, at: head + 1)
        try checkFunction(function, position: 0)
        var ranges: [Range<Int>] = []
        var decoded: [QValue?] = []
        var largestDecode = headEnd - head
        var position = headEnd
        for index in 1..<count {
            let end = try QIPCInPlace.checkValue(in: bytes, at: position, depth: 2)
            let argument = position..<end
            ranges.append(argument)
            if argument.count <= limit {
                let value = try QIPCInPlace.decodeValue(in: bytes, range: argument, depth: 2)
                largestDecode = max(largestDecode, argument.count)
                if let reason = ParseForm.nestedCall(in: value) {
                    throw QueryError(.refused, "item \(index): \(reason)")
                }
                if value.holdsError { throw errorArgumentRefusal(item: index) }
                decoded.append(value)
            } else {
                if let reason = try ParseFormInPlace.nestedCall(in: bytes, at: position, depth: 0) {
                    throw QueryError(.refused, "item \(index): \(reason)")
                }
                if try QIPCInPlace.holdsError(in: bytes, at: position) {
                    throw errorArgumentRefusal(item: index)
                }
                decoded.append(nil)
            }
            position = end
        }
        let arguments = decoded.compactMap { $0 }
        if arguments.count == decoded.count {
            let parsed = ParsedQuery(function: function, arguments: arguments, text: nil)
            return CheckedQuery(
                function: function, parsed: parsed, argumentRanges: ranges, routing: nil, largestDecode: largestDecode)
        }
        guard let spec else {
            return CheckedQuery(
                function: function, parsed: nil, argumentRanges: ranges, routing: nil, largestDecode: largestDecode)
        }
        var routing = BoundedRoutingText()
        for (index, part) in spec.parts.enumerated() {
            if index > 0 { routing.append(RoutingSpec.separator) }
            switch part {
            case .function:
                routing.append(function)
            case .argument(let position) where position <= ranges.count:
                if let value = decoded[position - 1] {
                    routing.append(value.routingText)
                } else {
                    try RoutingInPlace.render(in: bytes, range: ranges[position - 1], nested: false, into: &routing)
                }
            case .argument:
                routing.append(function)
            }
        }
        return CheckedQuery(
            function: function, parsed: nil, argumentRanges: ranges, routing: RoutingString(routing.text),
            largestDecode: max(largestDecode, routing.largestDecode))
    }
}

/// ``ParseForm``'s check for nested calls, on an argument's bytes.
enum ParseFormInPlace {
    /// Why the value at `position` is not a plain literal (the reason ``ParseForm/nestedCall(in:depth:)``
    /// gives for it decoded), or nil when it is one.
    static func nestedCall(in bytes: Span<UInt8>, at position: Int, depth: Int) throws(QIPCError) -> String? {
        guard try QIPCInPlace.type(in: bytes, at: position) == 0 else { return nil }
        guard depth < ParseForm.maximumDepth else {
            return "general lists nested deeper than \(ParseForm.maximumDepth) levels"
        }
        let count = try QIPCInPlace.count(in: bytes, at: position + 2, minimumElementSize: 1)
        var item = position + 6
        if count > 0, try QIPCInPlace.type(in: bytes, at: item) == -11 {
            let (name, _) = try QIPCInPlace.symbol(in: bytes, at: item + 1)
            return "the list (`\(name);...) would be evaluated as a call to `\(name)`;"
                + " nested function calls are refused"
        }
        for _ in 0..<count {
            if let reason = try nestedCall(in: bytes, at: item, depth: depth + 1) { return reason }
            item = try QIPCInPlace.checkValue(in: bytes, at: item, depth: 2)
        }
        return nil
    }
}

/// ``QData/QValue/routingText`` of a value in a message's bytes, rendered a piece at a time.
enum RoutingInPlace {
    /// Values up to this size are decoded and rendered whole; larger vectors a chunk of about
    /// this many bytes at a time.
    static let chunkBytes = 64 * 1024

    /// Appends the routing text of the value in `range` to `text`: as ``QData/QValue/routingText``
    /// renders it, or `nested` as an item of a general list is rendered (in parentheses when it
    /// is a list or a vector other than a string).
    static func render(
        in bytes: Span<UInt8>, range: Range<Int>, nested: Bool, into text: inout BoundedRoutingText
    ) throws(QIPCError) {
        let type = try QIPCInPlace.type(in: bytes, at: range.lowerBound)
        guard range.count > chunkBytes, (0...19).contains(type) else {
            let value = try QIPCInPlace.decodeValue(in: bytes, range: range)
            text.largestDecode = max(text.largestDecode, range.count)
            text.append(nested ? RoutingRenderer.renderNested(value) : value.routingText)
            return
        }
        let count = try QIPCInPlace.count(in: bytes, at: range.lowerBound + 2, minimumElementSize: 1)
        let first = range.lowerBound + 6
        if type == 10 {
            renderChars(in: bytes, range: first..<range.upperBound, into: &text)
            return
        }
        if nested { text.append("(") }
        if type == 0 {
            var item = first
            for index in 0..<count {
                if index > 0 { text.append(",") }
                let end = try QIPCInPlace.checkValue(in: bytes, at: item, depth: 2)
                try render(in: bytes, range: item..<end, nested: true, into: &text)
                item = end
            }
        } else {
            try renderVector(type: type, in: bytes, elements: first..<range.upperBound, count: count, into: &text)
        }
        if nested { text.append(")") }
    }

    /// A char vector's text: its bytes decoded as UTF-8 in chunks cut before a byte that does
    /// not continue a character, which decode as the whole does.
    private static func renderChars(in bytes: Span<UInt8>, range: Range<Int>, into text: inout BoundedRoutingText) {
        var start = range.lowerBound
        while start < range.upperBound {
            var end = min(start + chunkBytes, range.upperBound)
            while end < range.upperBound, end > start + 1, bytes[end] & 0xC0 == 0x80 { end -= 1 }
            text.largestDecode = max(text.largestDecode, end - start)
            text.append(String(decoding: QIPCInPlace.copy(of: bytes, range: start..<end), as: UTF8.self))
            start = end
        }
    }

    /// A vector's items joined with `,`, rendered from vectors of a chunk of them at a time;
    /// booleans, bytes and integers straight from their bytes (``renderIntegers(type:in:elements:count:into:)``).
    private static func renderVector(
        type: Int8, in bytes: Span<UInt8>, elements: Range<Int>, count: Int, into text: inout BoundedRoutingText
    ) throws(QIPCError) {
        if IntegerText.width(of: type) != nil {
            return renderIntegers(type: type, in: bytes, elements: elements, count: count, into: &text)
        }
        var start = elements.lowerBound
        var done = 0
        while done < count {
            var end = start
            var taken = 0
            if type == 11 {
                while taken < count - done, end - start < chunkBytes {
                    end = try QIPCInPlace.symbol(in: bytes, at: end).end
                    taken += 1
                }
            } else {
                let size = (elements.count) / max(count, 1)
                taken = min(count - done, max(1, chunkBytes / max(size, 1)))
                end = start + taken * size
            }
            var chunk: [UInt8] = [UInt8(bitPattern: type), 0]
            QIPC.appendInt32(Int32(taken), to: &chunk)
            chunk += QIPCInPlace.copy(of: bytes, range: start..<end)
            let value = try QIPCInPlace.decodeValue(in: chunk.span, range: 0..<chunk.count)
            text.largestDecode = max(text.largestDecode, chunk.count)
            guard case .vector(let vector, _) = value else { return }
            if done > 0 { text.append(",") }
            text.append(RoutingRenderer.render(vector))
            done += taken
            start = end
        }
    }

    /// A boolean, byte, short, int or long vector's items joined with `,`, written as
    /// ``QData/QValue/routingText`` writes them (``RoutingRenderer/render(_:)-(QAtom)``) straight
    /// from their little-endian bytes into a buffer, a chunk at a time: no value and no string
    /// is made per item. A million bytes cost the broker's loop what a String per item cost for
    /// a few thousand.
    private static func renderIntegers(
        type: Int8, in bytes: Span<UInt8>, elements: Range<Int>, count: Int, into text: inout BoundedRoutingText
    ) {
        guard let width = IntegerText.width(of: type), count > 0 else { return }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(chunkBytes + 32)
        if width == 1 {
            // Booleans and bytes, a million to a megabyte: a table lookup and two or three
            // appends each.
            let hexDigits = IntegerText.hexDigits
            for index in 0..<count {
                let byte = bytes[elements.lowerBound + index]
                if index > 0 { buffer.append(UInt8(ascii: ",")) }
                if type == 1 {
                    buffer.append(byte == 0 ? UInt8(ascii: "0") : UInt8(ascii: "1"))
                } else {
                    buffer.append(hexDigits[Int(byte >> 4)])
                    buffer.append(hexDigits[Int(byte & 0xF)])
                }
                if buffer.count >= chunkBytes {
                    text.append(utf8: buffer)
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            if !buffer.isEmpty { text.append(utf8: buffer) }
            return
        }
        var position = elements.lowerBound
        for index in 0..<count {
            if index > 0 { buffer.append(UInt8(ascii: ",")) }
            var raw: UInt64 = 0
            for offset in 0..<width { raw |= UInt64(bytes[position + offset]) << (8 * UInt64(offset)) }
            position += width
            IntegerText.append(raw, type: type, to: &buffer)
            if buffer.count >= chunkBytes {
                text.append(utf8: buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        if !buffer.isEmpty { text.append(utf8: buffer) }
    }
}

/// Routing text of boolean, byte and integer items written as bytes (ASCII), as
/// ``RoutingRenderer`` writes them: `1`/`0`; two lowercase hex digits; decimal, with `0N`,
/// `0W` and `-0W` and the type's suffix (`h`, `i`, none) for a null and the infinities.
enum IntegerText {
    /// Bytes per item of a vector of `type`, for the types written here; nil for the others.
    static func width(of type: Int8) -> Int? {
        switch type {
        case 1, 4: 1
        case 5: 2
        case 6: 4
        case 7: 8
        default: nil
        }
    }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends the item `raw` (its little-endian bytes, zero-extended) of a vector of `type`.
    static func append(_ raw: UInt64, type: Int8, to buffer: inout [UInt8]) {
        switch type {
        case 1:
            buffer.append(raw == 0 ? UInt8(ascii: "0") : UInt8(ascii: "1"))
        case 4:
            buffer.append(hexDigits[Int(raw >> 4)])
            buffer.append(hexDigits[Int(raw & 0xF)])
        case 5:
            appendInteger(Int64(Int16(truncatingIfNeeded: raw)), bits: 16, suffix: UInt8(ascii: "h"), to: &buffer)
        case 6:
            appendInteger(Int64(Int32(truncatingIfNeeded: raw)), bits: 32, suffix: UInt8(ascii: "i"), to: &buffer)
        default:
            appendInteger(Int64(bitPattern: raw), bits: 64, suffix: nil, to: &buffer)
        }
    }

    /// Decimal digits of `value`, an integer of `bits` bits, or its null or infinity.
    private static func appendInteger(_ value: Int64, bits: Int, suffix: UInt8?, to buffer: inout [UInt8]) {
        let largest = Int64.max >> (64 - bits)
        let special: String? =
            value == -largest - 1 ? "0N" : value == largest ? "0W" : value == -largest ? "-0W" : nil
        if let special {
            buffer.append(contentsOf: special.utf8)
            if let suffix { buffer.append(suffix) }
            return
        }
        var magnitude = value.magnitude
        if value < 0 { buffer.append(UInt8(ascii: "-")) }
        var digits = 1
        var power: UInt64 = 10
        while digits < 20, magnitude >= power {
            digits += 1
            power = power &* 10
        }
        buffer.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: digits))
        var index = buffer.count - 1
        while magnitude > 0 {
            buffer[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
            index -= 1
        }
    }
}
