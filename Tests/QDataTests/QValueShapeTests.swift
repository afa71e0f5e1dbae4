import PropertyBased
import QData
import Testing

/// Values no q process can hold — a table with no columns, or whose columns differ in length,
/// name a column twice or are atoms, a dictionary whose keys and values differ in count — are refused by the
/// decoder and by the in-place check, in the same words, and found by `shapeProblem`.
struct QValueShapeTests {
    static let bad: [(value: QValue, problem: String)] = [
        (
            .table(QTable(columns: ["a", "b"], values: [.vector(.long([1, 2, 3])), .vector(.long([4, 5]))])),
            "its columns differ in length (`a` has 3 items, `b` 2)"
        ),
        (
            .table(QTable(columns: ["a", "a"], values: [.vector(.long([1])), .vector(.long([2]))])),
            "column `a` appears twice"
        ),
        (
            .table(QTable(columns: ["a", "b"], values: [.vector(.long([1, 2])), .atom(.long(3))])),
            "column `b` is not a list (type -7)"
        ),
        // `flip (0#`)!()`: q makes no table without columns, and pykx reads one as `rank`.
        (.table(QTable(columns: [], values: [])), "it has no columns"),
        (
            .dictionary(keys: .vector(.symbol(["a", "b", "c"])), values: .list([.atom(.long(1))])),
            "its keys and values differ in count (3 and 1)"
        ),
    ]

    @Test(arguments: bad.indices)
    func aValueNoQProcessCanHoldIsRefusedWhenDecodedAndCheckedInPlace(index: Int) throws {
        let (value, problem) = Self.bad[index]
        let kind = if case .table = value { "table" } else { "dictionary" }
        // Inside a list, as a query's argument or a reply's result comes.
        let bytes = QIPC.encode(.list([.atom(.long(1)), value]))
        let expected = "the \(kind) at offset 23: \(problem)"
        let decoded = #expect(throws: QIPCError.self) { try QIPC.decode(bytes) }
        #expect(decoded?.code == .invalidValue)
        #expect(decoded?.message == expected)
        let inPlace = #expect(throws: QIPCError.self) { try QIPCInPlace.checkValue(in: bytes.span, at: 8, depth: 0) }
        #expect(inPlace?.code == .invalidValue)
        #expect(inPlace?.message == expected)
        #expect(value.shapeProblem == "a \(kind): \(problem)")
        // Anywhere inside a value too.
        #expect(QValue.list([.atom(.long(1)), .dictionary(keys: .vector(.symbol(["k"])), values: .list([value]))]).shapeProblem == "a \(kind): \(problem)")
    }

    @Test func aTableWithMoreNamesThanColumnsHasAShapeProblem() {
        let table = QValue.table(QTable(columns: ["a", "b"], values: [.vector(.long([1]))]))
        #expect(table.shapeProblem == "a table: it has 2 column names and 1 columns")
    }

    /// A keyed table is a dictionary of two tables with as many rows; one with fewer rows in
    /// its values is refused.
    @Test func aKeyedTableCountsRows() throws {
        let keys = QValue.table(QTable(columns: ["k"], values: [.vector(.symbol(["x", "y"]))]))
        let values = QValue.table(QTable(columns: ["v"], values: [.list([.string("p"), .string("q")])]))
        let keyed = QValue.dictionary(keys: keys, values: values)
        #expect(keyed.shapeProblem == nil)
        #expect(try QIPC.decode(QIPC.encode(keyed)).value == keyed)
        let short = QValue.dictionary(keys: keys, values: .table(QTable(columns: ["v"], values: [.vector(.long([1]))])))
        #expect(short.shapeProblem == "a dictionary: its keys and values differ in count (2 and 1)")
        let error = #expect(throws: QIPCError.self) { try QIPC.decode(QIPC.encode(short)) }
        #expect(error?.message == "the dictionary at offset 8: its keys and values differ in count (2 and 1)")
        let inPlace = #expect(throws: QIPCError.self) {
            try QIPCInPlace.checkValue(in: QIPC.encode(short).span, at: 8, depth: 0)
        }
        #expect(inPlace?.message == error?.message)
    }

    /// Every value q can make has no shape problem and decodes.
    @Test func valuesQCanHoldHaveNoShapeProblem() async {
        await propertyCheck(count: 300, input: QValueGenerator.values()) { value in
            #expect(value.shapeProblem == nil)
            let decoded = try QIPC.decode(QIPC.encode(value)).value
            #expect(decoded == value)
        }
    }

    @Test func aQErrorInsideAValueIsFoundInPlace() throws {
        for (value, holds) in [
            (QValue.list([.atom(.long(1)), .error("inner")]), true),
            (.dictionary(keys: .vector(.symbol(["a"])), values: .list([.error("x")])), true),
            (.table(QTable(columns: ["a"], values: [.list([.error("x")])])), true),
            (.list([.atom(.long(1)), .string("fine")]), false),
            (.error("top"), true),
        ] {
            let bytes = QIPC.encode(value)
            #expect(try QIPCInPlace.holdsError(in: bytes.span, at: 8) == holds, "\(value)")
            #expect(value.holdsError == holds)
        }
    }
}
