import Foundation
import Logging
@testable import MServeMonitoring
import Testing

/// The lines MServe's processes write to standard error: swift-log's layout, the time to the
/// millisecond.
@Suite struct StandardErrorLogHandlerTests {
    private static func event(
        _ message: Logger.Message, metadata: Logger.Metadata? = nil, error: (any Error)? = nil
    ) -> LogEvent {
        LogEvent(
            level: .warning, message: message, error: error, metadata: metadata, source: "MServeBroker", file: #fileID,
            function: #function, line: #line)
    }

    /// Milliseconds, always three digits, between the seconds and the offset from UTC.
    @Test func theTimeIsToTheMillisecond() throws {
        let stamp = StandardErrorLogHandler.timestamp()
        let pattern = try Regex(#"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}$"#)
        #expect(stamp.wholeMatch(of: pattern) != nil, "\(stamp)")
        let early = StandardErrorLogHandler.timestamp(seconds: 1_765_058_596, milliseconds: 7)
        #expect(early.contains(":16.007"), "\(early)")
        let late = StandardErrorLogHandler.timestamp(seconds: 1_765_058_596, milliseconds: 999)
        #expect(late.contains(":16.999"), "\(late)")
    }

    /// `TIME LEVEL LABEL: KEY=VALUE… [SOURCE] MESSAGE`, metadata sorted by key.
    @Test func aLineHasStreamLogHandlersLayout() {
        let line = StandardErrorLogHandler.line(
            time: "T", event: Self.event("servant lost"), label: "mserve.broker",
            metadata: ["servant": "s1", "reason": "missed heartbeats"])
        #expect(line == "T warning mserve.broker: reason=missed heartbeats servant=s1 [MServeBroker] servant lost\n")
        let bare = StandardErrorLogHandler.line(time: "T", event: Self.event("up"), label: "mserve.hub", metadata: [:])
        #expect(bare == "T warning mserve.hub: [MServeBroker] up\n")
    }

    /// The handler's metadata, the provider's, then the event's, each winning over the one
    /// before; an error becomes two keys.
    @Test func metadataIsMergedAndAnErrorNamed() throws {
        struct Failure: Error, CustomStringConvertible { var description: String { "it broke" } }
        let pipe = Pipe()
        var handler = StandardErrorLogHandler(
            label: "test", descriptor: pipe.fileHandleForWriting.fileDescriptor,
            metadataProvider: Logger.MetadataProvider { ["provided": "p", "shared": "provider"] })
        handler.metadata = ["own": "o", "shared": "handler"]
        handler.log(event: Self.event("done", metadata: ["event": "e", "shared": "event"], error: Failure()))
        try pipe.fileHandleForWriting.close()
        let written = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let afterTime = written.split(separator: " ", maxSplits: 1).last.map(String.init) ?? ""
        #expect(
            afterTime
                == "warning test: error.message=it broke error.type=\(String(reflecting: Failure.self)) event=e own=o provided=p "
                + "shared=event [MServeBroker] done\n", "\(written)")
    }
}
