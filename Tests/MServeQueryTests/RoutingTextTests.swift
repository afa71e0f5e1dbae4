import Foundation
import MServeQuery
import QData
import Testing

@Suite("Routing text of values")
struct RoutingTextTests {
    func text(_ literalText: String) -> String? {
        literal(literalText)?.routingText
    }

    @Test func symbolsAndStringsAreTheirText() {
        #expect(QValue.atom(.symbol("IBM")).routingText == "IBM")
        #expect(QValue.atom(.symbol("")).routingText == "")
        #expect(text("\"IBM\"") == "IBM")
        #expect(text("\"x\"") == "x")
        #expect(text("`IBM`MSFT") == "IBM,MSFT")
    }

    @Test func numbersWithoutSuffix() {
        #expect(text("42") == "42")
        #expect(text("-42h") == "-42")
        #expect(text("42i") == "42")
        #expect(text("1.5") == "1.5")
        #expect(text("2f") == "2")
        #expect(text("1.5e") == "1.5")
        #expect(text("0x2a") == "2a")
        #expect(text("1b") == "1")
        #expect(text("1 2 3") == "1,2,3")
        #expect(text("0101b") == "0,1,0,1")
    }

    /// As docs/PROTOCOL.md writes them: the shortest form that reads back as the same number, a
    /// whole number under 1e15 without a decimal point, an exponent from 1e16 up and below 0.0001.
    @Test func floatsInTheirShortestFormWithAnExponentAtTheEnds() {
        #expect(text("1e10") == "10000000000")
        #expect(text("-1e10") == "-10000000000")
        #expect(text("123456789.123") == "123456789.123")
        #expect(text("1e15") == "1000000000000000.0")
        #expect(text("1e16") == "1e+16")
        #expect(text("0.0001") == "0.0001")
        #expect(text("1e-5") == "1e-05")
        #expect(text("1.0000000000000002e20") != text("1e20"))
    }

    @Test func temporalValuesInQSyntax() {
        for form in [
            "2024.01.02", "2024.01m", "12:30", "12:30:05", "12:30:00.123",
            "2024.01.02D12:30:00.123456789", "2024.01.02T12:30:00.250", "1999.12.31",
            "1969.07.20D20:17:40.000000000",
        ] {
            #expect(text(form) == form, "\(form)")
        }
        #expect(text("0D00:00:01") == "0D00:00:01.000000000")
        #expect(text("-1D") == "-1D00:00:00.000000000")
        #expect(text("-00:01") == "-00:01")
        #expect(text("2024.01.01 2024.01.02") == "2024.01.01,2024.01.02")
        // A datetime past what a long counts in milliseconds routes by its day count.
        #expect(QValue.atom(.datetime(1e300)).routingText == "1e+300z")
        #expect(QValue.vector(.datetime([-1e300, 0.5])).routingText == "-1e+300z,2000.01.01T12:00:00.000")
    }

    @Test func nullsAndInfinitiesAreQLiterals() {
        for form in ["0N", "0Nh", "0Ni", "0n", "0Ne", "0Nd", "0Nm", "0Np", "0Nn", "0Nt", "0Nu", "0Nv",
            "0Nz", "0W", "-0W", "0Wh", "0w", "-0w", "0We", "0Wd", "-0Wp", "0Wz"]
        {
            #expect(text(form) == form, "\(form)")
        }
        #expect(text("0Ng") == "00000000-0000-0000-0000-000000000000")
    }

    @Test func listsJoinWithCommasAndParenthesizeNesting() {
        #expect(text("(1;`a;\"xy\")") == "1,a,xy")
        #expect(text("(1;2 3)") == "1,(2,3)")
        #expect(text("()") == "")
        #expect(QValue.identity.routingText == "::")
        #expect(QValue.error("type").routingText == "'type")
        #expect(
            QValue.dictionary(keys: .vector(.symbol(["a", "b"])), values: .vector(.long([1, 2])))
                .routingText == "(a,b)!(1,2)")
        #expect(
            QValue.table(QTable(columns: ["a"], values: [.vector(.long([1]))])).routingText
                == "+(a)!((1))")
        let guid = UUID(uuidString: "8C680A01-5A49-5AAB-5A65-D4BFDDB6A661")!
        #expect(QValue.atom(.guid(guid)).routingText == "8c680a01-5a49-5aab-5a65-d4bfddb6a661")
    }
}
