import Foundation
import QData
import Testing

struct QValueConversionTests {
    @Test func swiftValuesBecomeTheNaturalQTypes() {
        #expect(QValue(42) == .atom(.long(42)))
        #expect(QValue(Int32(7)) == .atom(.int(7)))
        #expect(QValue(1.5) == .atom(.float(1.5)))
        #expect(QValue(true) == .atom(.boolean(true)))
        #expect(QValue("IBM") == .atom(.symbol("IBM")))
        #expect(QValue([1, 2] as [Int64]) == .vector(.long([1, 2])))
        #expect(QValue(["a", "b"]) == .vector(.symbol(["a", "b"])))
        #expect(QValue(Duration.seconds(1)) == .atom(.timespan(1_000_000_000)))
        #expect(QValue(Date(timeIntervalSince1970: 946_684_800)) == .atom(.timestamp(0)))
        let literal: QValue = [1, "a", 2.5, true]
        #expect(literal == .list([.atom(.long(1)), .atom(.symbol("a")), .atom(.float(2.5)), .atom(.boolean(true))]))
    }

    @Test func qValuesReadBackAsSwiftValues() {
        #expect(QValue.atom(.int(5)).int == 5)
        #expect(QValue.atom(.real(1.5)).double == 1.5)
        #expect(QValue.atom(.symbol("IBM")).symbol == "IBM")
        #expect(QValue.string("proc1").string == "proc1")
        #expect(QValue.atom(.date(1)).date == Date(timeIntervalSince1970: 946_684_800 + 86_400))
        #expect(QValue.atom(.timestamp(1_500_000_000)).date == Date(timeIntervalSince1970: 946_684_801.5))
        #expect(QValue.atom(.time(1_500)).duration == .milliseconds(1_500))
        #expect(QValue.atom(.minute(2)).duration == .seconds(120))
        #expect(QValue.atom(.timespan(.min)).duration == nil)
        #expect(QValue.vector(.int([1, 2])).int64s == [1, 2])
        #expect(QValue.vector(.real([0.5])).doubles == [0.5])
        #expect(QValue.vector(.symbol(["a"])).symbols == ["a"])
        #expect(QValue.atom(.long(1)).symbol == nil)
        let dictionary = QValue.dictionary(["a": 1, "b": "x"])
        #expect(dictionary["b"] == .atom(.symbol("x")))
        #expect(dictionary["c"] == nil)
    }
}
