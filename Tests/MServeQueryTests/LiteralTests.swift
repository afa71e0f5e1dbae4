import Foundation
import MServeQuery
import QData
import Testing
import MServeTestScheduling

@Suite("Literals")
struct LiteralTests {
    static let nanosecondsPerDay: Int64 = 86_400_000_000_000

    func expectLiteral(
        _ text: String, _ expected: QValue, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let value = literal(text) else {
            Issue.record("'\(text)' did not parse: \(String(describing: parseError("f " + text)))",
                sourceLocation: sourceLocation)
            return
        }
        #expect(
            same(value, expected), "'\(text)' gave \(structure(value))",
            sourceLocation: sourceLocation)
    }

    @Test func symbols() {
        expectLiteral("`IBM", .atom(.symbol("IBM")))
        expectLiteral("`", .atom(.symbol("")))
        expectLiteral("`a.b", .atom(.symbol("a.b")))
        expectLiteral("`:file", .atom(.symbol(":file")))
        expectLiteral("`:dir/file.csv", .atom(.symbol(":dir/file.csv")))
        expectLiteral("`:host:5001", .atom(.symbol(":host:5001")))
        expectLiteral("`a_b1", .atom(.symbol("a_b1")))
        expectLiteral("`IBM`MSFT", .vector(.symbol(["IBM", "MSFT"])))
        expectLiteral("`a`", .vector(.symbol(["a", ""])))
        expectLiteral("``", .vector(.symbol(["", ""])))
        expectLiteral("`café", .atom(.symbol("café")))
    }

    @Test func integers() {
        expectLiteral("42", .atom(.long(42)))
        expectLiteral("-5", .atom(.long(-5)))
        expectLiteral("42j", .atom(.long(42)))
        expectLiteral("42i", .atom(.int(42)))
        expectLiteral("42h", .atom(.short(42)))
        expectLiteral("-42h", .atom(.short(-42)))
        expectLiteral("9223372036854775807", .atom(.long(.max)))
        #expect(literal("9223372036854775808") == nil)
        #expect(literal("40000h") == nil)
        #expect(literal("3000000000i") == nil)
        #expect(literal("12q") == nil)
    }

    /// q's decimal forms, and decimals beyond a double's range or precision.
    @Test func decimalsInEveryForm() {
        expectLiteral("1.e5", .atom(.float(100_000)))
        expectLiteral("-.5", .atom(.float(-0.5)))
        expectLiteral(".5e2", .atom(.float(50)))
        expectLiteral("-.5e-2", .atom(.float(-0.005)))
        expectLiteral("-1.5e-3f", .atom(.float(-0.0015)))
        expectLiteral("-1.5e-3e", .atom(.real(-0.0015)))
        expectLiteral("1.e", .atom(.real(1)))
        expectLiteral("-0.0", .atom(.float(-0.0)))
        expectLiteral("0.1", .atom(.float(0.1)))
        expectLiteral("123456789012345678901234567890.5", .atom(.float(123456789012345678901234567890.5)))
        expectLiteral("9007199254740993.", .atom(.float(9_007_199_254_740_992)))
        expectLiteral("1.7976931348623157e308", .atom(.float(.greatestFiniteMagnitude)))
        expectLiteral("1e400", .atom(.float(.infinity)))
        expectLiteral("-1e400", .atom(.float(-.infinity)))
        expectLiteral("4.9e-324", .atom(.float(.leastNonzeroMagnitude)))
        expectLiteral("1e-400", .atom(.float(0)))
        expectLiteral("1.5 -.5 2. 1e2", .vector(.float([1.5, -0.5, 2, 100])))
    }

    /// Decimals among other arguments, and as the last bytes of the query, as text and as bytes.
    @Test func decimalsInsideTheQueryAndAtItsEnd() throws {
        let text = "f[1.5;-.5e2;2.;`a;1e-3]"
        let fromText = try QueryParser.parse(text)
        let fromBytes = try QueryParser.parse(utf8: Array(text.utf8))
        let expected: [QValue] = [
            .atom(.float(1.5)), .atom(.float(-50)), .atom(.float(2)), .atom(.symbol("a")),
            .atom(.float(0.001)),
        ]
        #expect(same(fromText.arguments, expected))
        #expect(same(fromBytes.arguments, expected))
        let atEnd = try QueryParser.parse(utf8: Array("f -1.5e-3".utf8))
        #expect(same(atEnd.arguments, [.atom(.float(-0.0015))]))
    }

    /// Random decimals, short and long, with and without a point, an exponent or a sign, parse
    /// to the double Swift's `Double(_:)` reads from the same text: the nearest one.
    @Test(.heavyComputation) func decimalsParseToTheNearestDouble() {
        var generator = SplitMix64(seed: 0xDEC1_3A15)
        func digits(_ count: UInt64) -> String {
            let zero = UInt8(ascii: "0")
            return String((0..<count).map { _ in Character(UnicodeScalar(zero + UInt8(generator.next() % 10))) })
        }
        for _ in 0..<20_000 {
            var integerPart = digits(generator.next() % 20)
            let fractionPart = digits(generator.next() % 20)
            let hasPoint = generator.next() % 4 != 0
            if integerPart.isEmpty && (!hasPoint || fractionPart.isEmpty) { integerPart = "7" }
            var text = (generator.next() % 4 == 0 ? "-" : "") + integerPart
            if hasPoint { text += "." + fractionPart }
            if !hasPoint || generator.next() % 2 == 0 {
                text += ["e", "E"][Int(generator.next() % 2)] + ["", "-", "+"][Int(generator.next() % 3)]
                text += digits(1 + generator.next() % 3)
            }
            guard case .atom(.float(let value))? = literal(text), let expected = Double(text) else {
                Issue.record("'\(text)' did not parse as a float")
                continue
            }
            #expect(value.bitPattern == expected.bitPattern, "'\(text)' gave \(value), not \(expected)")
        }
    }

    @Test func bytes() {
        expectLiteral("0x2a", .atom(.byte(0x2a)))
        expectLiteral("0xff", .atom(.byte(0xff)))
        expectLiteral("0x1", .atom(.byte(1)))
        expectLiteral("0x0102", .vector(.byte([1, 2])))
        expectLiteral("0x102", .vector(.byte([1, 2])))
        expectLiteral("0x", .vector(.byte([])))
        #expect(literal("0xzz") == nil)
    }

    @Test func floatsAndReals() {
        expectLiteral("1.5", .atom(.float(1.5)))
        expectLiteral("-1.5", .atom(.float(-1.5)))
        expectLiteral(".5", .atom(.float(0.5)))
        expectLiteral("1.", .atom(.float(1)))
        expectLiteral("1e3", .atom(.float(1000)))
        expectLiteral("1.5e-3", .atom(.float(0.0015)))
        expectLiteral("1E+2", .atom(.float(100)))
        expectLiteral("1.5f", .atom(.float(1.5)))
        expectLiteral("2f", .atom(.float(2)))
        expectLiteral("1.5e", .atom(.real(1.5)))
        expectLiteral("2e", .atom(.real(2)))
        expectLiteral("1e3e", .atom(.real(1000)))
        expectLiteral("1.5 2.5", .vector(.float([1.5, 2.5])))
        expectLiteral("1 2.5", .vector(.float([1, 2.5])))
        expectLiteral("1 2.5e", .vector(.real([1, 2.5])))
    }

    @Test func booleans() {
        expectLiteral("1b", .atom(.boolean(true)))
        expectLiteral("0b", .atom(.boolean(false)))
        expectLiteral("0101b", .vector(.boolean([false, true, false, true])))
        #expect(literal("2b") == nil)
        #expect(literal("-1b") == nil)
    }

    @Test func charsAndStrings() {
        expectLiteral("\"a\"", .atom(.char(UInt8(ascii: "a"))))
        expectLiteral("\"abc\"", .vector(.char(Array("abc".utf8))))
        expectLiteral("\"\"", .vector(.char([])))
        expectLiteral(#""a\"b""#, .vector(.char(Array("a\"b".utf8))))
        expectLiteral(#""a\\b""#, .vector(.char(Array("a\\b".utf8))))
        expectLiteral(#""\n\t\r""#, .vector(.char([10, 9, 13])))
        expectLiteral(#""\101\102""#, .vector(.char(Array("AB".utf8))))
        expectLiteral(#""\n""#, .atom(.char(10)))
        expectLiteral("\"a;b]c)\"", .vector(.char(Array("a;b]c)".utf8))))
        #expect(parseError(#"f "\q""#)?.code == .syntax)
        #expect(parseError(#"f "\12""#)?.code == .syntax)
        #expect(parseError("f \"abc")?.column == 3)
    }

    @Test func datesAndMonths() {
        expectLiteral("2000.01.01", .atom(.date(0)))
        expectLiteral("2024.01.02", .atom(.date(daysSince2000(2024, 1, 2))))
        expectLiteral("1999.12.31", .atom(.date(-1)))
        expectLiteral("2024.02.29", .atom(.date(daysSince2000(2024, 2, 29))))
        expectLiteral("2024.01m", .atom(.month(288)))
        expectLiteral("1999.12m", .atom(.month(-1)))
        expectLiteral(
            "2024.01.01 2024.01.02",
            .vector(.date([daysSince2000(2024, 1, 1), daysSince2000(2024, 1, 2)])))
        expectLiteral("2024.01", .atom(.float(2024.01)))
        #expect(literal("2023.02.29") == nil)
        #expect(literal("2024.13.01") == nil)
        #expect(literal("2024.13m") == nil)
    }

    /// A month vector as q writes it: the suffix once, at the end, after elements that alone
    /// would read as floats.
    @Test func monthVectorsAsQWritesThem() {
        expectLiteral("2024.01 2024.02m", .vector(.month([288, 289])))
        expectLiteral("2024.01 0Nm", .vector(.month([288, .min])))
        expectLiteral("1999.12 0N 2000.01m", .vector(.month([-1, .min, 0])))
        let written = QValue.vector(.month([288, 289, .min])).description
        expectLiteral(written, .vector(.month([288, 289, .min])))
        // Without the suffix they stay floats; a month past 12 is no month.
        expectLiteral("2024.01 2024.02", .vector(.float([2024.01, 2024.02])))
        #expect(literal("2024.13 2024.02m") == nil)
        #expect(literal("2024.01 2024.02e") != nil)
    }

    /// What MServe writes for a vector (as q writes it) reads back as the same vector, with
    /// nulls and infinities among ordinary values.
    @Test func everyVectorAsWrittenReadsBack() {
        let vectors: [QVector] = [
            .boolean([true, false]), .byte([1, 0x2a]),
            .short([1, .min, .max, -.max]), .int([1, .min, .max, -.max]), .long([1, .min, .max, -.max]),
            .real([1.5, 2]), .float([1.5, -2, 1e10]),
            .symbol(["IBM", "MSFT"]),
            .timestamp([0, .min, .max, -.max, 86_400_000_000_001]),
            .month([288, .min, .max, -.max, -1]),
            .date([0, .min, .max, -.max, 8_767]),
            .timespan([1_000_000_000, .min, .max, -.max]),
            .minute([750, .min, .max, -.max]), .second([45_005, .min, .max, -.max]),
            .time([45_000_500, .min, .max, -.max]),
        ]
        for vector in vectors {
            let written = QValue.vector(vector).description
            expectLiteral(written, .vector(vector))
        }
    }

    @Test func timesOfDay() {
        expectLiteral("12:30", .atom(.minute(750)))
        expectLiteral("12:30:05", .atom(.second(45_005)))
        expectLiteral("12:30:00.000", .atom(.time(45_000_000)))
        expectLiteral("12:30:00.5", .atom(.time(45_000_500)))
        expectLiteral("-00:00:01.000", .atom(.time(-1000)))
        expectLiteral("12:30:00.000000001", .atom(.timespan(45_000_000_000_001)))
        expectLiteral("12:30 13:00", .vector(.minute([750, 780])))
        #expect(literal("12:60") == nil)
        #expect(literal("12:3") == nil)
        #expect(literal("12:30:00.1234567890") == nil)
        // Hours past a timespan's range are refused, not overflowed (a trap in broker and servant).
        #expect(literal("999999999:00:00.0000") == nil)
        #expect(literal("-999999999:00:00.000000001") == nil)
        expectLiteral("2562047:47:16.854775807", .atom(.timespan(.max)))
    }

    @Test func timestampsDatetimesAndTimespans() {
        let day = Int64(daysSince2000(2024, 1, 2))
        let clock: Int64 = 45_000_000_000_000
        expectLiteral(
            "2024.01.02D12:30:00.000000000", .atom(.timestamp(day * Self.nanosecondsPerDay + clock)))
        expectLiteral(
            "2024.01.02D12:30:00.123", .atom(.timestamp(day * Self.nanosecondsPerDay + clock + 123_000_000)))
        expectLiteral("2024.01.02D12:30", .atom(.timestamp(day * Self.nanosecondsPerDay + clock)))
        expectLiteral("2024.01.02D", .atom(.timestamp(day * Self.nanosecondsPerDay)))
        expectLiteral("2000.01.01D00:00:00", .atom(.timestamp(0)))
        expectLiteral("2024.01.02T12:30:00.000", .atom(.datetime(Double(day) + 0.5208333333333334)))
        expectLiteral("2000.01.01T00:00:00.000", .atom(.datetime(0)))
        expectLiteral("0D00:00:01", .atom(.timespan(1_000_000_000)))
        expectLiteral("1D", .atom(.timespan(Self.nanosecondsPerDay)))
        expectLiteral("-1D", .atom(.timespan(-Self.nanosecondsPerDay)))
        expectLiteral("2D12:30:00.123456789", .atom(.timespan(2 * Self.nanosecondsPerDay + clock + 123_456_789)))
        expectLiteral("0D00:00:01 1D", .vector(.timespan([1_000_000_000, Self.nanosecondsPerDay])))
        #expect(literal("2024.01.02D25:00") == nil)
        #expect(literal("2024.01.02X") == nil)
    }

    @Test func nulls() {
        expectLiteral("0N", .atom(.long(.min)))
        expectLiteral("0Nh", .atom(.short(.min)))
        expectLiteral("0Ni", .atom(.int(.min)))
        expectLiteral("0Nj", .atom(.long(.min)))
        expectLiteral("0n", .atom(.float(.nan)))
        expectLiteral("0Nf", .atom(.float(.nan)))
        expectLiteral("0Ne", .atom(.real(.nan)))
        expectLiteral("0Nd", .atom(.date(.min)))
        expectLiteral("0Nm", .atom(.month(.min)))
        expectLiteral("0Np", .atom(.timestamp(.min)))
        expectLiteral("0Nn", .atom(.timespan(.min)))
        expectLiteral("0Nt", .atom(.time(.min)))
        expectLiteral("0Nu", .atom(.minute(.min)))
        expectLiteral("0Nv", .atom(.second(.min)))
        expectLiteral("0Nz", .atom(.datetime(.nan)))
        expectLiteral("0Ng", .atom(.guid(UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))))
        #expect(literal("0Nb") == nil)
        #expect(literal("0Nx") == nil)
        #expect(literal("-0N") == nil)
    }

    @Test func infinities() {
        expectLiteral("0W", .atom(.long(.max)))
        expectLiteral("-0W", .atom(.long(-.max)))
        expectLiteral("0Wh", .atom(.short(.max)))
        expectLiteral("-0Wi", .atom(.int(-.max)))
        expectLiteral("0w", .atom(.float(.infinity)))
        expectLiteral("-0w", .atom(.float(-.infinity)))
        expectLiteral("0We", .atom(.real(.infinity)))
        expectLiteral("0Wd", .atom(.date(.max)))
        expectLiteral("-0Wp", .atom(.timestamp(-.max)))
        expectLiteral("0Wz", .atom(.datetime(.infinity)))
        #expect(literal("0Wg") == nil)
    }

    @Test func numericVectors() {
        expectLiteral("1 2 3", .vector(.long([1, 2, 3])))
        expectLiteral("1 2 3h", .vector(.short([1, 2, 3])))
        expectLiteral("1 2 3i", .vector(.int([1, 2, 3])))
        expectLiteral("1 -2 3", .vector(.long([1, -2, 3])))
        expectLiteral("1 0N 0W -0W", .vector(.long([1, .min, .max, -.max])))
        expectLiteral("1.5 0N", .vector(.float([1.5, .nan])))
        expectLiteral("2024.01.01 0N 0W", .vector(.date([daysSince2000(2024, 1, 1), .min, .max])))
        expectLiteral("1 2  3", .vector(.long([1, 2, 3])))
        #expect(literal("1 2.5h") == nil)
        #expect(literal("2024.01.01 12:30") == nil)
        #expect(literal("2024.01.01 5") == nil)
        #expect(literal("0101b 1b") == nil)
        #expect(literal("70000 1h") == nil)
    }

    @Test func generalListsCollapseLikeQ() {
        expectLiteral("(1;`a;\"x\")", .list([.atom(.long(1)), .atom(.symbol("a")), .atom(.char(120))]))
        expectLiteral("(1;2)", .vector(.long([1, 2])))
        expectLiteral("(`a;`b)", .vector(.symbol(["a", "b"])))
        expectLiteral("(\"a\";\"b\")", .vector(.char(Array("ab".utf8))))
        expectLiteral("(1;2h)", .list([.atom(.long(1)), .atom(.short(2))]))
        expectLiteral("()", .list([]))
        expectLiteral("(1)", .atom(.long(1)))
        expectLiteral("((1))", .atom(.long(1)))
        expectLiteral("(1 2;3)", .list([.vector(.long([1, 2])), .atom(.long(3))]))
        expectLiteral("( 1 ; 2 )", .vector(.long([1, 2])))
    }
}
