import MServeProtocol
import QData
import Testing

/// Reading the options of `(id; query; options)`: symbol keys, each known, each of its type.
struct QueryOptionsTests {
    static func dictionary(_ keys: [String], _ values: QValue) -> QValue {
        .dictionary(keys: .vector(.symbol(keys)), values: values)
    }

    @Test func aDeadlineIsReadFromATypedVectorOrAGeneralList() throws {
        // q's (enlist`deadline)!enlist 0D00:00:05 has a timespan vector of values.
        let typed = Self.dictionary(["deadline"], .vector(.timespan([5_000_000_000])))
        #expect(try QueryOptions(decoding: typed).deadlineNanoseconds == 5_000_000_000)
        let general = Self.dictionary(["deadline"], .list([.atom(.timespan(7))]))
        #expect(try QueryOptions(decoding: general).deadlineNanoseconds == 7)
        // ()!() sets nothing.
        let empty = QValue.dictionary(keys: .list([]), values: .list([]))
        #expect(try QueryOptions(decoding: empty).isEmpty)
    }

    @Test func whatTheBrokerCannotHonourIsRefused() {
        let refused: [(QValue, String)] = [
            (Self.dictionary(["deadline", "deadline"], .vector(.timespan([1, 2]))), "given twice"),
            (Self.dictionary(["deadline"], .vector(.time([5_000]))), "got a time atom"),
            (Self.dictionary(["deadline"], .vector(.timespan([Int64.min]))), "positive timespan"),
            (Self.dictionary(["deadline"], .vector(.timespan([0]))), "positive timespan"),
            (Self.dictionary(["priority"], .vector(.long([1]))), "unknown option `priority"),
            (.dictionary(keys: .vector(.long([1])), values: .vector(.long([1]))), "symbol keys"),
            (.string("deadline"), "got a char vector"),
        ]
        for (value, fragment) in refused {
            do {
                _ = try QueryOptions(decoding: value)
                Issue.record("\(value) was accepted")
            } catch {
                #expect(error.message.contains(fragment), "\(error.message)")
            }
        }
    }

    @Test func theOptionsRoundTripAndAreDroppedForServants() throws {
        let options = QueryOptions(deadline: .milliseconds(250))
        #expect(try QueryOptions(decoding: options.qValue) == options)
        let message = ClientQuery(id: .atom(.long(3)), query: .string("proc1 `IBM"), options: options.qValue).encoded()
        let read = try ClientQuery(bytes: message, acceptingOptions: true)
        #expect(read.id == .atom(.long(3)) && read.options == options.qValue)
        // Where options are not accepted (a servant), three items are refused as before.
        #expect(throws: ProtocolError.self) { try ClientQuery(bytes: message) }
        // The servant's message is the first two items as they came.
        let plain = ClientQuery(id: .atom(.long(3)), query: .string("proc1 `IBM")).encoded()
        #expect(ClientQuery.withoutOptions(message) == plain)
        #expect(ClientQuery.withoutOptions(plain) == nil)
    }
}
