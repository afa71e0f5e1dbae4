import MServeQuery
import QData

/// A structural rendering of a q value (via its mirror), so tests can compare values exactly
/// without relying on any conformance of QValue.
func structure(_ value: QValue) -> String {
    var text = ""
    dump(value, to: &text)
    return text
}

/// Whether two q values have the same structure and contents (NaN equals NaN).
func same(_ left: QValue, _ right: QValue) -> Bool {
    structure(left) == structure(right)
}

/// Whether two argument lists are the same, item by item.
func same(_ left: [QValue], _ right: [QValue]) -> Bool {
    left.count == right.count && zip(left, right).allSatisfy { same($0, $1) }
}

/// The one argument of a parsed query text, or `nil` when parsing fails or there is not one.
func onlyArgument(_ text: String) -> QValue? {
    guard let query = try? QueryParser.parse(text), query.arguments.count == 1 else {
        return nil
    }
    return query.arguments[0]
}

/// The argument of `f x`, for literal tests.
func literal(_ text: String) -> QValue? {
    onlyArgument("f " + text)
}

/// The error parsing `text` throws, or `nil` when it parses.
func parseError(_ text: String) -> QueryError? {
    do {
        _ = try QueryParser.parse(text)
        return nil
    } catch {
        return error
    }
}

/// Days since 2000.01.01 for tests (independent of the parser's calendar code).
func daysSince2000(_ year: Int, _ month: Int, _ day: Int) -> Int32 {
    var components = DateComponentsLite(year: year, month: month, day: day)
    return components.daysSince2000()
}

/// A minimal civil-date counter, by counting days year by year (slow, obviously right).
struct DateComponentsLite {
    var year: Int
    var month: Int
    var day: Int

    mutating func daysSince2000() -> Int32 {
        func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }
        let monthLengths = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        var days = 0
        if year >= 2000 {
            for y in 2000..<year { days += isLeap(y) ? 366 : 365 }
        } else {
            for y in year..<2000 { days -= isLeap(y) ? 366 : 365 }
        }
        for m in 1..<month { days += monthLengths[m - 1] + (m == 2 && isLeap(year) ? 1 : 0) }
        days += day - 1
        return Int32(days)
    }
}
