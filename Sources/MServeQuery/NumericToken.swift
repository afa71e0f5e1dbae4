import QData

/// One number or temporal token of a literal, before a vector decides the final type.
///
/// A vector's type is the one type its explicitly typed elements share (by suffix, as in
/// `1 2 3h`, or by form, as in `2024.01.01 0N`); untyped integers, decimals, `0N` and `0W` take
/// it. Without typed elements a vector is float if any element is a decimal, long otherwise.
enum NumericToken {
    /// Digits without a suffix: a long, unless a vector makes it another numeric type.
    case integer(Int64)
    /// A decimal or exponent without a suffix: a float, unless a vector makes it a real.
    case decimal(Double)
    /// A decimal of the form `yyyy.mm` (`2024.01`): a float, or the month it writes in a
    /// month vector (`2024.01 2024.02m`, as q writes one).
    case yearMonth(Double, month: Int32)
    /// `0N`: the null of the vector's type (long alone).
    case null
    /// `0W` or `-0W`: the infinity of the vector's type (long alone).
    case infinity(negative: Bool)
    /// An atom whose type the token fixes (`5h`, `2024.01.02`, `0Nd`, `1b`, `0x2a`).
    case atom(QAtom)
    /// A token that is a whole vector by itself: `0101b`, `0x0102`.
    case vector(QVector)

    /// The token alone (not part of a vector).
    func value(column: Int) throws(QueryError) -> QValue {
        switch self {
        case .integer(let value): return .atom(.long(value))
        case .decimal(let value), .yearMonth(let value, _): return .atom(.float(value))
        case .null: return .atom(.long(.min))
        case .infinity(let negative): return .atom(.long(negative ? -.max : .max))
        case .atom(let atom): return .atom(atom)
        case .vector(let vector): return .vector(vector)
        }
    }

    /// A space-separated vector of tokens (`1 2 3`, `1 2 3h`, `2024.01.01 2024.01.02`).
    static func vector(of tokens: [(token: NumericToken, column: Int)]) throws(QueryError)
        -> QValue
    {
        var sharedType: QTypeCode?
        var hasDecimal = false
        for (token, column) in tokens {
            switch token {
            case .vector:
                throw QueryError(
                    .syntax, "a boolean or byte vector literal cannot be an element of a vector",
                    column: column)
            case .atom(let atom):
                let type = atom.typeCode
                if let sharedType, sharedType != type {
                    throw QueryError(
                        .syntax, "mixed types in a vector: \(sharedType) and \(type)",
                        column: column)
                }
                sharedType = type
            case .decimal, .yearMonth:
                hasDecimal = true
            case .integer, .null, .infinity:
                break
            }
        }
        let type = sharedType ?? (hasDecimal ? .float : .long)
        var atoms: [QAtom] = []
        atoms.reserveCapacity(tokens.count)
        for (token, column) in tokens {
            atoms.append(try token.atom(as: type, column: column))
        }
        guard let vector = QLiteralTypes.vector(of: atoms, type: type) else {
            throw QueryError(.syntax, "invalid \(type) vector", column: tokens[0].column)
        }
        return .vector(vector)
    }

    /// The token as an element of a vector of `type`.
    private func atom(as type: QTypeCode, column: Int) throws(QueryError) -> QAtom {
        switch self {
        case .atom(let atom):
            return atom
        case .integer(let value):
            switch type {
            case .short:
                guard let short = Int16(exactly: value) else { break }
                return .short(short)
            case .int:
                guard let int = Int32(exactly: value) else { break }
                return .int(int)
            case .long: return .long(value)
            case .real: return .real(Float(value))
            case .float: return .float(Double(value))
            default: break
            }
            throw QueryError(
                .syntax, "the integer \(value) cannot be an element of a \(type) vector",
                column: column)
        case .yearMonth(let value, let month):
            if type == .month { return .month(month) }
            return try NumericToken.decimal(value).atom(as: type, column: column)
        case .decimal(let value):
            if type == .real { return .real(Float(value)) }
            if type == .float { return .float(value) }
            throw QueryError(
                .syntax, "a decimal cannot be an element of a \(type) vector", column: column)
        case .null:
            if let null = QLiteralTypes.null(of: type) { return null }
            throw QueryError(.syntax, "a \(type) vector has no null", column: column)
        case .infinity(let negative):
            if let infinity = QLiteralTypes.infinity(of: type, negative: negative) {
                return infinity
            }
            throw QueryError(.syntax, "a \(type) vector has no infinity", column: column)
        case .vector:
            throw QueryError(
                .syntax, "a vector literal cannot be an element of a vector", column: column)
        }
    }

    // MARK: Classifying a token

    /// Classifies the bytes of one token (after its optional leading '-').
    static func classify(
        _ token: TokenBytes, negative: Bool, column: Int
    ) throws(QueryError) -> NumericToken {
        var reader = TokenReader(token: token, negative: negative, column: column)
        return try reader.classify()
    }
}

/// Reads one numeric or temporal token.
private struct TokenReader {
    let token: TokenBytes
    let negative: Bool
    let column: Int

    var count: Int { token.count }

    func invalid(_ what: String = "literal") -> QueryError {
        let text = (negative ? "-" : "") + token.text
        return QueryError(.syntax, "invalid \(what) '\(text)'", column: column)
    }

    func byte(_ index: Int) -> UInt8? {
        index < token.count ? token[index] : nil
    }

    func digitsEnd(from start: Int) -> Int {
        var index = start
        while index < token.count && ASCII.isDigit(token[index]) { index += 1 }
        return index
    }

    func isDigits(_ range: Range<Int>) -> Bool {
        range.upperBound <= token.count && digitsEnd(from: range.lowerBound) >= range.upperBound
    }

    /// The value of a run of at most 18 digits.
    func number(_ range: Range<Int>) -> Int64 {
        var value: Int64 = 0
        for index in range { value = value * 10 + Int64(token[index] - ASCII.zero) }
        return value
    }

    mutating func classify() throws(QueryError) -> NumericToken {
        if count >= 2 && token[0] == ASCII.zero {
            switch token[1] {
            case UInt8(ascii: "x"): return try bytes()
            case UInt8(ascii: "N"), UInt8(ascii: "W"), UInt8(ascii: "n"), UInt8(ascii: "w"):
                return try nullOrInfinity()
            default: break
            }
        }
        let integerEnd = digitsEnd(from: 0)
        if integerEnd > 0, let next = byte(integerEnd) {
            switch next {
            case ASCII.colon:
                return try clockLiteral()
            case UInt8(ascii: "D"):
                return try timespan(daysEnd: integerEnd)
            case ASCII.dot where integerEnd == 4 && isDigits(5..<7):
                if count == 8 && token[7] == UInt8(ascii: "m") {
                    return try month()
                }
                if count == 7, !negative, case .atom(.month(let month))? = try? self.month() {
                    return .yearMonth(try decimal(0..<7), month: month)
                }
                if count >= 10 && token[7] == ASCII.dot && isDigits(8..<10) {
                    return try dateBased()
                }
            default:
                break
            }
        }
        return try numberLiteral(integerEnd: integerEnd)
    }

    /// `0x2a` (an atom), `0x0102` (a vector), `0x` (an empty byte vector).
    func bytes() throws(QueryError) -> NumericToken {
        guard !negative else { throw invalid("byte literal") }
        var nibbles: [UInt8] = []
        for index in 2..<count {
            guard let value = ASCII.hexValue(token[index]) else { throw invalid("byte literal") }
            nibbles.append(value)
        }
        if nibbles.count == 1 { return .atom(.byte(nibbles[0])) }
        if nibbles.count == 2 { return .atom(.byte(nibbles[0] << 4 | nibbles[1])) }
        if nibbles.count % 2 == 1 { nibbles.insert(0, at: 0) }
        var values: [UInt8] = []
        values.reserveCapacity(nibbles.count / 2)
        var index = 0
        while index < nibbles.count {
            values.append(nibbles[index] << 4 | nibbles[index + 1])
            index += 2
        }
        return .vector(.byte(values))
    }

    /// `0N`, `0W`, `0n`, `0w`, and typed `0Nx`, `0Wx`.
    func nullOrInfinity() throws(QueryError) -> NumericToken {
        let kind = token[1]
        let isNull = kind == UInt8(ascii: "N") || kind == UInt8(ascii: "n")
        if isNull && negative { throw invalid("null") }
        if count == 2 {
            switch kind {
            case UInt8(ascii: "N"): return .null
            case UInt8(ascii: "W"): return .infinity(negative: negative)
            case UInt8(ascii: "n"): return .atom(.float(.nan))
            default: return .atom(.float(negative ? -.infinity : .infinity))
            }
        }
        guard count == 3, kind == UInt8(ascii: "N") || kind == UInt8(ascii: "W"),
            let type = QLiteralTypes.type(forSuffix: token[2])
        else { throw invalid(isNull ? "null" : "infinity") }
        let atom =
            isNull
            ? QLiteralTypes.null(of: type)
            : QLiteralTypes.infinity(of: type, negative: negative)
        guard let atom else { throw invalid(isNull ? "null" : "infinity") }
        return .atom(atom)
    }

    /// Digits with an optional point, exponent and type suffix; or booleans `0101b`.
    func numberLiteral(integerEnd: Int) throws(QueryError) -> NumericToken {
        var end = integerEnd
        var isDecimal = false
        if byte(end) == ASCII.dot {
            isDecimal = true
            end = digitsEnd(from: end + 1)
        }
        guard integerEnd > 0 || end > integerEnd + 1 else { throw invalid("number") }
        if let letter = byte(end), letter | 0x20 == UInt8(ascii: "e") {
            var exponentStart = end + 1
            if let sign = byte(exponentStart), sign == ASCII.minus || sign == ASCII.plus {
                exponentStart += 1
            }
            let exponentEnd = digitsEnd(from: exponentStart)
            if exponentEnd > exponentStart {
                isDecimal = true
                end = exponentEnd
            }
        }
        var suffix: UInt8?
        if end < count {
            guard end == count - 1 else { throw invalid("number") }
            suffix = token[end]
        }
        if isDecimal {
            let value = try decimal(0..<end)
            switch suffix {
            case nil: return .decimal(value)
            case UInt8(ascii: "e"): return .atom(.real(Float(value)))
            case UInt8(ascii: "f"): return .atom(.float(value))
            default: throw invalid("number")
            }
        }
        switch suffix {
        case nil:
            return .integer(try integer(0..<end))
        case UInt8(ascii: "b"):
            guard !negative, (0..<end).allSatisfy({ token[$0] <= ASCII.zero + 1 }) else {
                throw invalid("boolean")
            }
            if end == 1 { return .atom(.boolean(token[0] == ASCII.zero + 1)) }
            return .vector(.boolean((0..<end).map { token[$0] == ASCII.zero + 1 }))
        case UInt8(ascii: "h"):
            guard let value = Int16(exactly: try integer(0..<end)) else { throw invalid("short") }
            return .atom(.short(value))
        case UInt8(ascii: "i"):
            guard let value = Int32(exactly: try integer(0..<end)) else { throw invalid("int") }
            return .atom(.int(value))
        case UInt8(ascii: "j"):
            return .atom(.long(try integer(0..<end)))
        case UInt8(ascii: "e"):
            return .atom(.real(Float(try decimal(0..<end))))
        case UInt8(ascii: "f"):
            return .atom(.float(try decimal(0..<end)))
        default:
            throw invalid("number")
        }
    }

    /// A signed integer from digits, refusing overflow.
    func integer(_ range: Range<Int>) throws(QueryError) -> Int64 {
        var magnitude: UInt64 = 0
        for index in range {
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(
                UInt64(token[index] - ASCII.zero))
            guard !overflow1, !overflow2 else { throw invalid("number (out of range)") }
            magnitude = sum
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else {
                throw invalid("number (out of range)")
            }
            return magnitude == UInt64(Int64.max) + 1 ? .min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { throw invalid("number (out of range)") }
        return Int64(magnitude)
    }

    /// A double from digits, a point and an exponent: `1.5`, `1.`, `.5`, `1e5`, `1.5e-3`.
    ///
    /// Both ways of reading the magnitude round correctly: ``exactDecimal(_:)`` for short
    /// decimals, Swift's `Double(_:)` (which reads q's forms as they are) for the others. The
    /// sign is applied afterwards, which gives the same double as reading it (rounding to
    /// nearest is symmetric).
    func decimal(_ range: Range<Int>) throws(QueryError) -> Double {
        guard let magnitude = exactDecimal(range) ?? Double(token.text(range)) else {
            throw invalid("number")
        }
        return negative ? -magnitude : magnitude
    }

    /// The value of a decimal of at most 15 significant digits whose power of ten is within
    /// ±22, or `nil` for any other decimal.
    ///
    /// Such digits and such a power of ten are exact doubles, so the one multiplication or
    /// division that combines them rounds correctly: the result is the double nearest the
    /// decimal, the one `Double(_:)` reads.
    func exactDecimal(_ range: Range<Int>) -> Double? {
        var significand: Int64 = 0
        var digits = 0
        var significantDigits = 0
        var powerOfTen = 0
        var isFraction = false
        var index = range.lowerBound
        while index < range.upperBound {
            let byte = token[index]
            if ASCII.isDigit(byte) {
                digits += 1
                if significand != 0 || byte != ASCII.zero {
                    significantDigits += 1
                    guard significantDigits <= 15 else { return nil }
                }
                significand = significand * 10 + Int64(byte - ASCII.zero)
                if isFraction { powerOfTen -= 1 }
            } else if byte == ASCII.dot && !isFraction {
                isFraction = true
            } else {
                break
            }
            index += 1
        }
        guard digits > 0 else { return nil }
        if index < range.upperBound {
            guard token[index] | 0x20 == UInt8(ascii: "e") else { return nil }
            index += 1
            var exponentIsNegative = false
            if index < range.upperBound && token[index] == ASCII.minus {
                exponentIsNegative = true
                index += 1
            } else if index < range.upperBound && token[index] == ASCII.plus {
                index += 1
            }
            guard index < range.upperBound else { return nil }
            var exponent = 0
            while index < range.upperBound {
                let byte = token[index]
                guard ASCII.isDigit(byte), exponent < 1000 else { return nil }
                exponent = exponent * 10 + Int(byte - ASCII.zero)
                index += 1
            }
            powerOfTen += exponentIsNegative ? -exponent : exponent
        }
        if significand == 0 { return 0 }
        guard powerOfTen >= -22 && powerOfTen <= 22 else { return nil }
        var scale = 1.0
        for _ in 0..<powerOfTen.magnitude { scale *= 10 }
        return powerOfTen < 0 ? Double(significand) / scale : Double(significand) * scale
    }

    // MARK: Temporal forms

    /// A clock `h[:mm[:ss[.fffffffff]]]` from `start` to the end of the token.
    struct Clock {
        var fields = 1
        var hours: Int64 = 0
        var minutes: Int64 = 0
        var seconds: Int64 = 0
        var fractionDigits: Int?
        /// The fraction of a second, in nanoseconds.
        var fraction: Int64 = 0

        var secondsOfDay: Int64 { (hours * 60 + minutes) * 60 + seconds }
        /// The clock in nanoseconds; nil past a long's range (hours up to 9 digits reach it).
        var nanoseconds: Int64? {
            let (whole, overflow) = secondsOfDay.multipliedReportingOverflow(by: 1_000_000_000)
            let (total, overflow2) = whole.addingReportingOverflow(fraction)
            return overflow || overflow2 ? nil : total
        }
    }

    func clock(from start: Int, what: String) throws(QueryError) -> Clock {
        var clock = Clock()
        let hoursEnd = digitsEnd(from: start)
        guard hoursEnd > start, hoursEnd - start <= 9 else { throw invalid(what) }
        clock.hours = number(start..<hoursEnd)
        var index = hoursEnd
        if byte(index) == ASCII.colon {
            guard isDigits(index + 1..<index + 3) else { throw invalid(what) }
            clock.minutes = number(index + 1..<index + 3)
            clock.fields = 2
            index += 3
            if byte(index) == ASCII.colon {
                guard isDigits(index + 1..<index + 3) else { throw invalid(what) }
                clock.seconds = number(index + 1..<index + 3)
                clock.fields = 3
                index += 3
                if byte(index) == ASCII.dot {
                    let fractionEnd = digitsEnd(from: index + 1)
                    let digits = fractionEnd - index - 1
                    guard digits <= 9 else { throw invalid(what) }
                    var fraction = number(index + 1..<fractionEnd)
                    for _ in digits..<9 { fraction *= 10 }
                    clock.fraction = fraction
                    clock.fractionDigits = digits
                    index = fractionEnd
                }
            }
        }
        guard index == count, clock.minutes < 60, clock.seconds < 60 else { throw invalid(what) }
        return clock
    }

    /// `12:30` (minute), `12:30:00` (second), `12:30:00.000` (time),
    /// `12:30:00.000000000` (timespan: more than 3 fraction digits).
    func clockLiteral() throws(QueryError) -> NumericToken {
        let clock = try clock(from: 0, what: "time")
        guard clock.fields >= 2 else { throw invalid("time") }
        let sign: Int64 = negative ? -1 : 1
        if let digits = clock.fractionDigits, digits > 3 {
            guard let nanoseconds = clock.nanoseconds else { throw invalid("timespan") }
            return .atom(.timespan(sign * nanoseconds))
        }
        let value: Int64
        switch clock.fields {
        case 2: value = clock.hours * 60 + clock.minutes
        case 3 where clock.fractionDigits == nil: value = clock.secondsOfDay
        default: value = clock.secondsOfDay * 1000 + clock.fraction / 1_000_000
        }
        guard let narrow = Int32(exactly: sign * value) else { throw invalid("time") }
        switch (clock.fields, clock.fractionDigits) {
        case (2, _): return .atom(.minute(narrow))
        case (3, nil): return .atom(.second(narrow))
        default: return .atom(.time(narrow))
        }
    }

    /// `1D`, `0D00:00:01`, `2D12:30:00.123456789`.
    func timespan(daysEnd: Int) throws(QueryError) -> NumericToken {
        guard daysEnd <= 6 else { throw invalid("timespan") }
        let days = number(0..<daysEnd)
        var nanoseconds: Int64 = 0
        if daysEnd + 1 < count {
            let clock = try clock(from: daysEnd + 1, what: "timespan")
            guard clock.hours < 24, let clockNanoseconds = clock.nanoseconds else { throw invalid("timespan") }
            nanoseconds = clockNanoseconds
        }
        let (dayNanoseconds, overflow) = days.multipliedReportingOverflow(
            by: QCalendar.nanosecondsPerDay)
        let (total, overflow2) = dayNanoseconds.addingReportingOverflow(nanoseconds)
        guard !overflow, !overflow2 else { throw invalid("timespan") }
        return .atom(.timespan(negative ? -total : total))
    }

    /// `2024.01m`.
    func month() throws(QueryError) -> NumericToken {
        let year = number(0..<4)
        let month = number(5..<7)
        guard !negative, (1...12).contains(month) else { throw invalid("month") }
        return .atom(.month(Int32((year - 2000) * 12 + month - 1)))
    }

    /// `2024.01.02`, `2024.01.02D12:30:00.000000000`, `2024.01.02T12:30:00.000`.
    func dateBased() throws(QueryError) -> NumericToken {
        let year = number(0..<4)
        let month = number(5..<7)
        let day = number(8..<10)
        guard !negative, (1...12).contains(month),
            (1...QCalendar.daysInMonth(year: year, month: month)).contains(day)
        else { throw invalid("date") }
        let days = QCalendar.days(year: year, month: month, day: day)
        guard count > 10 else { return .atom(.date(Int32(days))) }
        let separator = token[10]
        guard separator == UInt8(ascii: "D") || separator == UInt8(ascii: "T") else {
            throw invalid("date")
        }
        let isTimestamp = separator == UInt8(ascii: "D")
        var nanoseconds: Int64 = 0
        if count > 11 {
            let clock = try clock(
                from: 11, what: isTimestamp ? "timestamp" : "datetime")
            guard clock.hours < 24, let clockNanoseconds = clock.nanoseconds else {
                throw invalid(isTimestamp ? "timestamp" : "datetime")
            }
            nanoseconds = clockNanoseconds
        }
        if isTimestamp {
            let (dayNanoseconds, overflow) = days.multipliedReportingOverflow(
                by: QCalendar.nanosecondsPerDay)
            let (total, overflow2) = dayNanoseconds.addingReportingOverflow(nanoseconds)
            guard !overflow, !overflow2 else { throw invalid("timestamp") }
            return .atom(.timestamp(total))
        }
        return .atom(
            .datetime(Double(days) + Double(nanoseconds) / Double(QCalendar.nanosecondsPerDay)))
    }
}
