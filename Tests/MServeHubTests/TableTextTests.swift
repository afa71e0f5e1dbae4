import MServeHub
import QData
import Testing

@Suite("TableText")
struct TableTextTests {
    @Test("temporal atoms print as q prints them")
    func temporalAtoms() {
        #expect(TableText.text(.date(7308)) == "2020.01.04")
        #expect(TableText.text(.timestamp(631_459_933_689_473_000)) == "2020.01.04D13:32:13.689473000")
        #expect(TableText.text(.timespan(190_003_498_000)) == "0D00:03:10.003498000")
        #expect(TableText.text(.long(.min)) == "")
    }

    @Test("a table renders as header, rule and aligned rows")
    func rendersTable() {
        let table = QTable(
            columns: ["pid", "X"],
            values: [.vector(.long([88912, 7])), .list([.vector(.char(Array("q HUB.q".utf8))), .vector(.char([]))])])
        #expect(TableText.render(table) == "pid   X\n-------------\n88912 q HUB.q\n7")
    }
}
