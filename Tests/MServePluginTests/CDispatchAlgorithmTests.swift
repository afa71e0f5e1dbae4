// Tests of CDispatchAlgorithm.swift, the broker's side of the plugin ABI: whatever the broker's
// servant list does between calls, a C plugin sees exactly the current servants, byte for byte,
// although the C views and strings are cached between calls.
import Foundation
import MServePlugin
import MServeTestSupport
import Testing

@Suite(.enabled(if: CPluginCompiler.available, "no /usr/bin/cc"))
struct CDispatchAlgorithmTests {
    /// A C plugin that writes down, as text, what its last `choose` or `completed` was given,
    /// and hands that text back as the routing string of its routing hook.
    static let recorderSource = """
        #include "mserve_plugin.h"
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>

        typedef struct recorder { char *text; size_t length; size_t capacity; } recorder;

        static void *create(const char *config) { (void)config; return calloc(1, sizeof(recorder)); }
        static void destroy(void *state) { recorder *r = state; free(r->text); free(r); }

        static void append(recorder *r, const char *text, size_t length) {
            if (r->length + length + 1 > r->capacity) {
                r->capacity = 2 * (r->length + length + 1);
                r->text = realloc(r->text, r->capacity);
            }
            memcpy(r->text + r->length, text, length);
            r->length += length;
            r->text[r->length] = 0;
        }
        static void append_string(recorder *r, const char *text) {
            if (text == NULL) append(r, "(null)", 6); else append(r, text, strlen(text));
        }
        static void append_number(recorder *r, unsigned long long number) {
            char digits[32];
            int length = snprintf(digits, sizeof digits, "%llu", number);
            append(r, digits, (size_t)length);
        }
        static void append_view(recorder *r, const mserve_servant_view *v) {
            append(r, "[", 1); append_number(r, v->id);
            append(r, "|", 1); append_string(r, v->name);
            append(r, "|", 1); append_string(r, v->host);
            append(r, "|", 1); append_number(r, v->in_flight);
            append(r, "|", 1); append_number(r, v->capacity);
            append(r, "|", 1); append_string(r, v->last_routing);
            append(r, "|", 1); append_number(r, v->queries_served);
            append(r, "|", 1); append_number(r, v->mean_execution_ns);
            append(r, "]", 1);
        }
        static int64_t choose(void *state, const char *routing, const mserve_servant_view *servants, size_t count) {
            recorder *r = state;
            r->length = 0;
            append(r, "choose ", 7); append_string(r, routing); append(r, ":", 1);
            for (size_t i = 0; i < count; i++) append_view(r, &servants[i]);
            return MSERVE_DISPATCH_WAIT;
        }
        static void completed(void *state, const mserve_servant_view *servant, const char *routing, uint64_t ns) {
            recorder *r = state;
            r->length = 0;
            append(r, "completed ", 10); append_string(r, routing); append(r, ":", 1);
            append_view(r, servant); append(r, " ", 1); append_number(r, ns);
        }
        static int64_t route(void *state, const mserve_query_view *query, char *out, size_t capacity) {
            recorder *r = state;
            (void)query;
            if (capacity > 0) {
                size_t copied = r->length < capacity - 1 ? r->length : capacity - 1;
                if (copied > 0) memcpy(out, r->text, copied);
                out[copied] = 0;
            }
            return (int64_t)r->length;
        }
        static const mserve_dispatch_plugin table = {
            2, "recorder", "writes down what it is given",
            create, choose, completed, destroy, route
        };
        const mserve_dispatch_plugin *mserve_dispatch_plugin_entry(void) { return &table; }
        """

    /// A fresh recorder algorithm, from a library compiled for this test alone.
    static func recorder() async throws -> any DispatchAlgorithm {
        try await withTemporaryDirectory("mserve-plugin-tests") { directory in
            let path = try await CPluginCompiler.compile(source: recorderSource, into: directory, fileName: "recorder.so")
            return try DispatchPluginRegistry(directories: [], extraPaths: [path]).makeAlgorithm("recorder")
        }
    }

    /// What the recorder saw last.
    static func seen(by recorder: any DispatchAlgorithm) -> [UInt8] {
        guard case .routing(let text) = recorder.route(function: "", argumentMessages: [], defaultRouting: "") else {
            return Array("(refused)".utf8)
        }
        return Array(text.utf8)
    }

    /// The text the recorder writes for `servant`.
    static func text(_ servant: ServantView) -> String {
        "[\(servant.id)|\(servant.name)|\(servant.host)|\(UInt32(clamping: servant.inFlight))|"
            + "\(UInt32(clamping: servant.capacity))|\(servant.lastRouting)|\(servant.queriesServed)|"
            + "\(servant.meanExecutionNanoseconds)]"
    }

    /// Chooses with `servants` and checks that the plugin saw exactly them.
    static func expectChooseSees(
        _ servants: [ServantView], routing: String, on recorder: any DispatchAlgorithm,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(recorder.choose(routing: routing, servants: servants) == nil, sourceLocation: sourceLocation)
        let expected = "choose \(routing):" + servants.map(text).joined()
        #expect(
            seen(by: recorder) == Array(expected.utf8),
            "expected \(expected)\nseen     \(String(decoding: seen(by: recorder), as: UTF8.self))",
            sourceLocation: sourceLocation)
    }

    /// Completes on `servant` and checks that the plugin saw exactly it.
    static func expectCompletedSees(
        _ servant: ServantView, routing: String, on recorder: any DispatchAlgorithm,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        recorder.completed(servant: servant, routing: routing, executionNanoseconds: 1234)
        let expected = "completed \(routing):" + text(servant) + " 1234"
        #expect(
            seen(by: recorder) == Array(expected.utf8),
            "expected \(expected)\nseen     \(String(decoding: seen(by: recorder), as: UTF8.self))",
            sourceLocation: sourceLocation)
    }

    static func servant(_ id: UInt64, _ name: String, lastRouting: String = "") -> ServantView {
        ServantView(id: id, name: name, host: name.split(separator: ":").first.map(String.init) ?? "", lastRouting: lastRouting)
    }

    @Test func stringsChangedBetweenCallsAreSeen() async throws {
        let recorder = try await Self.recorder()
        var servants = [Self.servant(1, "db1:5001", lastRouting: "IBM"), Self.servant(2, "db2:5001")]
        Self.expectChooseSees(servants, routing: "IBM", on: recorder)
        // Same length, one byte different; then longer, then empty.
        servants[0].lastRouting = "IBN"
        Self.expectChooseSees(servants, routing: "IBM", on: recorder)
        servants[1].lastRouting = String(repeating: "long routing ", count: 10)
        Self.expectChooseSees(servants, routing: "MSFT", on: recorder)
        servants[1].lastRouting = ""
        servants[0].name = "db1:5002"
        servants[0].host = "db1.example.net"
        Self.expectChooseSees(servants, routing: "MSFT", on: recorder)
        servants[1].inFlight = 3
        servants[1].capacity = 4
        servants[1].queriesServed = 99
        servants[1].meanExecutionNanoseconds = 12_345
        Self.expectChooseSees(servants, routing: "MSFT", on: recorder)
    }

    @Test func aStringMutatedInPlaceIsSeen() async throws {
        let recorder = try await Self.recorder()
        var servants = [Self.servant(1, "db1:5001", lastRouting: String(repeating: "x", count: 30))]
        Self.expectChooseSees(servants, routing: "r", on: recorder)
        servants[0].lastRouting.removeLast()
        servants[0].lastRouting.append("y")
        Self.expectChooseSees(servants, routing: "r", on: recorder)
        servants[0].name.append("0")
        Self.expectChooseSees(servants, routing: "r", on: recorder)
    }

    @Test func canonicallyEquivalentStringsReachThePluginAsTheirOwnBytes() async throws {
        let recorder = try await Self.recorder()
        var servants = [Self.servant(1, "db1:5001", lastRouting: "caf\u{E9}")]
        Self.expectChooseSees(servants, routing: "r", on: recorder)
        servants[0].lastRouting = "cafe\u{301}"
        Self.expectChooseSees(servants, routing: "r", on: recorder)
    }

    @Test func servantsAddedRemovedAndReorderedAreSeen() async throws {
        let recorder = try await Self.recorder()
        let one = Self.servant(1, "db1:5001", lastRouting: "IBM")
        let two = Self.servant(2, "db2:5001", lastRouting: "MSFT")
        let three = Self.servant(3, "db3.example.net:5001", lastRouting: String(repeating: "z", count: 80))
        for servants in [[one, two], [one, two, three], [three, one], [two], [], [two, one, three], [three, two, one]] {
            Self.expectChooseSees(servants, routing: "IBM", on: recorder)
        }
    }

    @Test func anIDReusedAtAnotherIndexWithOtherStringsIsSeen() async throws {
        let recorder = try await Self.recorder()
        Self.expectChooseSees(
            [Self.servant(1, "db1:5001", lastRouting: "IBM"), Self.servant(2, "db2:5001", lastRouting: "MSFT")],
            routing: "IBM", on: recorder)
        Self.expectChooseSees(
            [Self.servant(2, "other:1", lastRouting: "AAPL"), Self.servant(1, "db9:5009", lastRouting: "")],
            routing: "IBM", on: recorder)
    }

    @Test func longAndEmptyStringsAreSeen() async throws {
        let recorder = try await Self.recorder()
        for string in TrickyStrings.all + TrickyStrings.all.reversed() {
            let servants = [
                Self.servant(1, "db1:5001", lastRouting: string),
                ServantView(id: 2, name: string, host: string, lastRouting: string),
            ]
            Self.expectChooseSees(servants, routing: string, on: recorder)
        }
    }

    @Test func completedSeesItsServantWhateverTheLastChooseWasGiven() async throws {
        let recorder = try await Self.recorder()
        var one = Self.servant(1, "db1:5001", lastRouting: "IBM")
        let two = Self.servant(2, "db2:5001", lastRouting: "MSFT")
        Self.expectChooseSees([one, two], routing: "IBM", on: recorder)
        // A servant the last choose did not pass, then one it did, changed since.
        Self.expectCompletedSees(Self.servant(7, "db7.example.net:5007", lastRouting: "AAPL"), routing: "AAPL", on: recorder)
        one.lastRouting = String(repeating: "changed ", count: 12)
        one.queriesServed = 1
        Self.expectCompletedSees(one, routing: "IBM", on: recorder)
        Self.expectCompletedSees(Self.servant(8, "db8:5008"), routing: "", on: recorder)
        Self.expectChooseSees([two, one], routing: "GOOG", on: recorder)
        Self.expectCompletedSees(two, routing: "MSFT", on: recorder)
    }

    @Test func aRandomSequenceOfChangesIsSeenExactly() async throws {
        let recorder = try await Self.recorder()
        var changes = ServantListChanges(seed: 42)
        for step in 0..<600 {
            changes.change()
            let routing = changes.anyString()
            Self.expectChooseSees(changes.servants, routing: routing, on: recorder)
            if step % 3 == 0 {
                let servant = changes.servantToComplete()
                Self.expectCompletedSees(servant, routing: changes.anyString(), on: recorder)
            }
        }
    }
}
