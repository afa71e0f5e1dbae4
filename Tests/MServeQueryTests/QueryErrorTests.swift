import MServeQuery
import Testing

@Suite("Query errors")
struct QueryErrorTests {
    @Test func descriptionNamesCodeColumnAndMessage() {
        let error = QueryError(.syntax, "unbalanced ')'", column: 7)
        #expect(error.description == "syntax error at column 7: unbalanced ')'")
        let noColumn = QueryError(.notAllowed, "`x` is not allowed")
        #expect(noColumn.description == "not allowed: `x` is not allowed")
    }

    @Test func codesAreDistinctAndNamed() {
        let codes: [QueryError.Code] = [
            .syntax, .refused, .notAllowed, .emptyQuery, .unsupportedForm, .routing,
        ]
        #expect(Set(codes).count == codes.count)
        #expect(QueryError.Code.refused.description == "refused")
    }

    @Test func recordsTheSourceLocation() {
        let error = QueryError(.routing, "x")
        #expect(error.file.hasSuffix("QueryErrorTests.swift"))
        #expect(error.line > 0)
    }

    @Test func malformedQueriesReportTheirColumn() {
        let cases: [(String, QueryError.Code, Int)] = [
            ("proc1[`IBM", .syntax, 11),
            ("proc1 (1;2", .syntax, 11),
            ("proc1 `IBM)", .syntax, 11),
            ("proc1[`IBM]]", .syntax, 12),
            ("proc1 \"abc", .syntax, 7),
            ("proc1 12x", .syntax, 7),
            ("proc1[1;2024.02.30]", .syntax, 9),
            ("proc1 1 2.5h", .syntax, 9),
            ("proc1 #", .refused, 7),
            ("proc1 é", .syntax, 7),
            ("proc1[", .syntax, 7),
            ("a..b 1", .syntax, 1),
        ]
        for (text, code, column) in cases {
            let error = parseError(text)
            #expect(error?.code == code, "\(text): \(String(describing: error))")
            #expect(error?.column == column, "\(text): \(String(describing: error))")
        }
    }

    @Test func aNonASCIICharacterIsShownWhole() {
        #expect(parseError("échö `x")?.message == "unexpected character 'é': outside strings a query is ASCII")
        #expect(parseError("proc1 `IBM ⌘")?.message.contains("'⌘'") == true)
        // Bytes that are no UTF-8 character are shown as bytes.
        #expect(throws: QueryError.self) { try QueryParser.parse(utf8: Array("proc1 ".utf8) + [0xC3, 0x28]) }
        do {
            _ = try QueryParser.parse(utf8: Array("proc1 ".utf8) + [0xC3, 0x28])
        } catch {
            #expect(error.message == "unexpected character '\\xc3'")
        }
    }

    @Test func missingBracketNamesWhereItOpened() {
        let error = parseError("proc1[(1;2]")
        #expect(error?.code == .syntax)
        #expect(error?.column == 11)
        let unclosed = parseError("proc1[1;2")
        #expect(unclosed?.message.contains("column 6") == true)
    }
}
