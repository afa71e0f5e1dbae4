import QData
import Testing

/// Values print the way a q console shows them.
struct QValueDescriptionTests {
    @Test func atomsLookLikeQ() {
        #expect(QValue.atom(.symbol("IBM")).description == "`IBM")
        #expect(QValue.atom(.long(42)).description == "42")
        #expect(QValue.atom(.int(42)).description == "42i")
        #expect(QValue.atom(.short(42)).description == "42h")
        #expect(QValue.atom(.float(1.5)).description == "1.5")
        #expect(QValue.atom(.float(2)).description == "2f")
        #expect(QValue.atom(.real(1.5)).description == "1.5e")
        #expect(QValue.atom(.boolean(true)).description == "1b")
        #expect(QValue.atom(.byte(0x2a)).description == "0x2a")
        #expect(QValue.atom(.date(8_767)).description == "2024.01.02")
        #expect(QValue.atom(.date(0)).description == "2000.01.01")
        #expect(QValue.atom(.date(-1)).description == "1999.12.31")
        #expect(QValue.atom(.month(288)).description == "2024.01m")
        #expect(QValue.atom(.time(45_000_123)).description == "12:30:00.123")
        #expect(QValue.atom(.minute(750)).description == "12:30")
        #expect(QValue.atom(.second(45_000)).description == "12:30:00")
        #expect(QValue.atom(.timestamp(0)).description == "2000.01.01D00:00:00.000000000")
        #expect(QValue.atom(.timespan(1_000_000_000)).description == "0D00:00:01.000000000")
        #expect(QValue.atom(.datetime(0.5)).description == "2000.01.01T12:00:00.000")
        #expect(QValue.atom(.long(.min)).description == "0N")
        #expect(QValue.atom(.int(.min)).description == "0Ni")
        #expect(QValue.atom(.date(.min)).description == "0Nd")
        #expect(QValue.atom(.float(.nan)).description == "0n")
        #expect(QValue.atom(.long(.max)).description == "0W")
        #expect(QValue.atom(.float(-.infinity)).description == "-0w")
        #expect(QValue.identity.description == "::")
        #expect(QValue.error("type").description == "'type")
        // The extremes print instead of overflowing.
        #expect(QValue.atom(.timestamp(.min + 2)).description.contains("D00:12:43.145224194"))
        #expect(QValue.atom(.timestamp(-1)).description == "1999.12.31D23:59:59.999999999")
        #expect(QValue.atom(.datetime(1e300)).description == "1e+300z")
        #expect(QValue.atom(.datetime(-1e300)).description == "-1e+300z")
    }

    /// Floats at q's default display precision (`\P 7`, C's `%.7g`): an exponent past seven
    /// digits, written as q writes it; `f` only where nothing else says float.
    @Test func floatsLookLikeQ() {
        #expect(QValue.atom(.float(1e10)).description == "1e+10")
        #expect(QValue.atom(.float(123_456_789)).description == "1.234568e+08")
        #expect(QValue.atom(.float(1_234_567)).description == "1234567f")
        #expect(QValue.atom(.float(0.00001)).description == "1e-05")
        #expect(QValue.atom(.float(91.88)).description == "91.88")
        #expect(QValue.atom(.float(2)).description == "2f")
        #expect(QValue.atom(.float(-0.5)).description == "-0.5")
        #expect(QValue.atom(.real(1e10)).description == "1e+10e")
        #expect(QValue.vector(.float([1, 2])).description == "1 2f")
        #expect(QValue.vector(.float([1, .nan])).description == "1 0n")
        #expect(QValue.vector(.float([1, .infinity])).description == "1 0w")
        #expect(QValue.vector(.float([1, 1e10])).description == "1 1e+10")
        #expect(QValue.vector(.float([.nan, .nan])).description == "0n 0n")
    }

    @Test func listsAndVectorsLookLikeQ() {
        #expect(QValue.vector(.long([1, 2, 3])).description == "1 2 3")
        #expect(QValue.vector(.int([1, 2])).description == "1 2i")
        #expect(QValue.vector(.symbol(["a", "b"])).description == "`a`b")
        #expect(QValue.vector(.symbol(["a"])).description == ",`a")
        #expect(QValue.vector(.long([7])).description == ",7")
        #expect(QValue.string("abc").description == "\"abc\"")
        #expect(QValue.vector(.boolean([true, false])).description == "10b")
        #expect(QValue.vector(.float([1, 2])).description == "1 2f")
        #expect(QValue.vector(.float([1.5, 2])).description == "1.5 2")
        #expect(QValue.list([.atom(.long(1)), .atom(.symbol("a")), .string("xy")]).description == "(1;`a;\"xy\")")
        #expect(QValue.list([.string("x")]).description == ",,\"x\"")
        #expect(QValue.list([]).description == "()")
    }

    @Test func tablesAndDictionariesLookLikeQ() {
        let table = QValue.table(
            QTable(columns: ["sym", "price"], values: [.vector(.symbol(["IBM", "MSFT"])), .vector(.float([1.5, 22.25]))]))
        #expect(
            table.description == """
                sym  price
                ----------
                IBM  1.5
                MSFT 22.25
                """)
        let dictionary = QValue.dictionary(["routing": .atom(.symbol("IBM")), "elapsed": .atom(.timespan(5))])
        #expect(
            dictionary.description == """
                routing| `IBM
                elapsed| 0D00:00:00.000000005
                """)
    }

    /// What a peer sent cannot drive a terminal: a control or format character in a symbol, a
    /// string (multi-byte text too) or an error's text is shown escaped, as q writes it in a
    /// string (`\n`, `\r`, `\t`, else octal bytes), wherever it stands: an atom, a vector, a
    /// dictionary's keys and values, a table's column names and cells. A symbol without one
    /// prints as q prints it, a backslash and all.
    @Test func controlAndFormatCharactersAreShownEscaped() {
        let text = "a\u{1b}[2J\u{7}\r\n\t\u{7f}\u{9b}\u{202e}\u{2028}é"
        let shown = #"a\033[2J\007\r\n\t\177\302\233\342\200\256\342\200\250é"#
        #expect(QValue.atom(.symbol(text)).description == "`" + shown)
        #expect(QValue.vector(.symbol(["x", text])).description == "`x`" + shown)
        #expect(QValue.string(text).description == "\"" + shown + "\"")
        #expect(QValue.string("\u{1b}[31m\"q\"\\").description == #""\033[31m\"q\"\\""#)
        #expect(QValue.error(text).description == "'" + shown)
        #expect(QValue.consoleText(text) == shown)
        #expect(QValue.consoleText("`C:\\dir é") == "`C:\\dir é")
        let dictionary = QValue.dictionary(
            keys: .vector(.symbol(["k" + text])), values: .list([.atom(.symbol(text))]))
        #expect(dictionary.description == "k" + shown + "| `" + shown)
        let table = QValue.table(QTable(columns: ["c" + text], values: [.vector(.symbol([text]))]))
        #expect(table.description.split(separator: "\n").count == 3, "\(table.description)")
        #expect(table.description.hasPrefix("c" + shown + "\n"), "\(table.description)")
        #expect(!table.description.unicodeScalars.contains { $0.properties.generalCategory == .control && $0 != "\n" })
    }
}
