import InMemoryLogging
import Logging
import MServeMonitoring
import Testing

/// What a peer sends and a log line quotes cannot start a line of its own or act on a terminal:
/// `OneLineLogHandler` escapes control and format characters in messages and metadata.
@Suite struct OneLineLogHandlerTests {
    /// A logger writing through a `OneLineLogHandler` into memory, and the memory.
    private func logger() -> (Logger, InMemoryLogHandler) {
        let memory = InMemoryLogHandler()
        var logger = Logger(label: "test") { _ in OneLineLogHandler(wrapping: memory) }
        logger.logLevel = .trace
        return (logger, memory)
    }

    @Test func aForgedLineInAMessageStaysInsideItsLine() throws {
        let (logger, memory) = logger()
        let role = "x\n2026-12-05T00:00:00+0000 critical mserve.hub: FAKE"
        logger.warning("refused a registration: REGISTER with role '\(role)'")
        let entry = try #require(memory.entries.first)
        #expect(!entry.message.description.contains("\n"))
        #expect(
            entry.message.description
                == "refused a registration: REGISTER with role 'x\\n2026-12-05T00:00:00+0000 critical mserve.hub: FAKE'")
    }

    @Test func controlAndFormatCharactersAreShownByTheirCode() {
        #expect(OneLineLogHandler.escaped("a\rb\tc") == "a\\rb\\tc")
        // ESC (a terminal's escape sequences), DEL, a C1 control, the right-to-left override,
        // a zero-width space and the Unicode line separator.
        #expect(OneLineLogHandler.escaped("\u{1B}[31m") == "\\u{001B}[31m")
        #expect(OneLineLogHandler.escaped("\u{7F}\u{85}") == "\\u{007F}\\u{0085}")
        #expect(OneLineLogHandler.escaped("abc\u{202E}fed") == "abc\\u{202E}fed")
        #expect(OneLineLogHandler.escaped("a\u{200B}b\u{2028}c") == "a\\u{200B}b\\u{2028}c")
    }

    @Test func plainTextIsLeftAsItIs() {
        for text in ["proc1 `IBM", "größe ✓ 数据", "C:\\path", ""] {
            #expect(OneLineLogHandler.escaped(text) == text)
        }
    }

    @Test func metadataValuesAreEscapedAtEveryDepth() throws {
        var (logger, memory) = logger()
        logger[metadataKey: "peer"] = "a\nb"
        logger.info(
            "refused",
            metadata: [
                "query": "f\n`x", "list": ["ok", "c\rd"], "map": ["inner": "e\u{1B}f"],
                "count": .stringConvertible(3),
            ])
        let entry = try #require(memory.entries.first)
        #expect(entry.metadata["peer"] == "a\\nb")
        #expect(entry.metadata["query"] == "f\\n`x")
        #expect(entry.metadata["list"] == ["ok", "c\\rd"])
        #expect(entry.metadata["map"] == ["inner": "e\\u{001B}f"])
        #expect(entry.metadata["count"]?.description == "3")
    }

    private struct PeerError: Error, CustomStringConvertible {
        var description: String
    }

    @Test func anErrorsTextIsEscapedToo() throws {
        let (logger, memory) = logger()
        logger.warning("refused", error: PeerError(description: "bad\nFORGED line"))
        let entry = try #require(memory.entries.first)
        #expect(entry.error == nil)
        #expect(entry.metadata["error.message"] == "bad\\nFORGED line")
        #expect(entry.metadata["error.type"]?.description.hasSuffix("PeerError") == true)
    }

    @Test func aMetadataProvidersValuesAreEscaped() throws {
        let memory = InMemoryLogHandler()
        var wrapped = OneLineLogHandler(wrapping: memory)
        wrapped.metadataProvider = Logger.MetadataProvider { ["peer": "a\rb"] }
        let logger = Logger(label: "test") { _ in wrapped }
        logger.info("hello", metadata: ["own": "c\td"])
        let entry = try #require(memory.entries.first)
        #expect(entry.metadata["peer"] == "a\\rb")
        #expect(entry.metadata["own"] == "c\\td")
    }

    @Test func theLevelIsTheWrappedHandlersLevel() {
        let memory = InMemoryLogHandler()
        var handler = OneLineLogHandler(wrapping: memory)
        handler.logLevel = .error
        #expect(handler.logLevel == .error)
        var logger = Logger(label: "test") { _ in handler }
        logger.info("not written")
        logger.error("written")
        #expect(memory.entries.map(\.message.description) == ["written"])
        logger.logLevel = .info
        #expect(logger.logLevel == .info)
    }
}
