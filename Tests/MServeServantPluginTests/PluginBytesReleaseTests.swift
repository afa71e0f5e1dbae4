import Foundation
import MServeProtocol
import MServeServant
import MServeTestSupport
import MServeTesting
import MServeTestScheduling
import QData
import Testing

/// A servant lets a large query's bytes go as soon as a plugin's function has returned, before
/// it copies the plugin's result into the reply
/// (``MServeServant/FunctionRegistry/reply(to:maximumSize:maximumReplySize:logger:)``): the
/// arguments the plugin read are those bytes, and the query, the result and the reply are
/// never all held at once.
///
/// The message is large enough for the allocator to give it pages of its own (glibc maps any
/// block over 32 MB by itself and unmaps it when freed), so whether its bytes are still held
/// is whether the page the plugin's arguments started on is still mapped, which the plugin
/// itself looks up (`mincore`) during the call and again in `free_result`, called once the
/// servant has copied the result. A fact about this one block, unlike the process's resident
/// memory, which tests running beside this one move too.
@Suite(.serialized, .heavyComputation)
struct PluginBytesReleaseTests {
    static let longs = 5_000_000  // 40 MB as IPC

    /// `keep x` notes whether its arguments are mapped, during the call and when its result is
    /// freed, and returns 0; `mapped[]` answers those two notes, as booleans.
    static let source = PluginFiles.cPlugin(
        name: "release", functions: [("keep", 1, 1), ("mapped", 0, 1)],
        prelude: """
            #include <sys/mman.h>
            #include <unistd.h>
            static const uint8_t *kept;
            static uint8_t mapped_in_call, mapped_at_free;
            static uint8_t is_mapped(const void *address) {
                uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
                unsigned char residency;
                return mincore((void *)((uintptr_t)address & ~(page - 1)), (size_t)page, &residency) == 0;
            }
            """,
        callBody: """
            (void)len;
            uint8_t *bytes = malloc(16);
            if (index == 0) {
                kept = args;
                mapped_in_call = is_mapped(args);
                uint8_t zero[9] = {(uint8_t)-7};
                memcpy(bytes, (uint8_t[8]){1, 0, 0, 0, 17, 0, 0, 0}, 8);
                memcpy(bytes + 8, zero, 9);
                out->result_ipc = bytes; out->result_len = 17;
            } else {
                memcpy(bytes, (uint8_t[8]){1, 0, 0, 0, 16, 0, 0, 0}, 8);
                memcpy(bytes + 8, (uint8_t[8]){1, 0, 2, 0, 0, 0, mapped_in_call, mapped_at_free}, 8);
                out->result_ipc = bytes; out->result_len = 16;
            }
            return MSERVE_SERVANT_CALL_OK;
            """,
        freeResultBody: """
            if (kept != NULL) { mapped_at_free = is_mapped(kept); kept = NULL; }
            free(r->result_ipc); free(r->error);
            """)

    @Test func theQueryBytesAreFreedBeforeThePluginsResultIsCopied() async throws {
        try await withTemporaryDirectory("mserve-servant-plugin-tests") { path in
            let directory = URL(fileURLWithPath: path, isDirectory: true)
            let path = try await PluginFiles.compile(Self.source, named: "librelease.so", in: directory)
            let tester = ServantTester(functions: FunctionRegistry(plugins: try ServantPluginLoader.load(paths: [path])))
            let message = ClientQuery(
                id: .atom(.long(1)),
                query: .list([.atom(.symbol("keep")), .vector(.long(Array(repeating: 7, count: Self.longs)))])
            ).encoded()
            let reply = tester.functions.reply(to: consume message)
            #expect(try QIPC.decode(reply).value == .list([.atom(.long(1)), .atom(.long(0))]))
            let mapped = try tester.call("mapped[]").result
            // Mapped while the plugin ran (the check sees a held block), unmapped once it returned.
            #expect(mapped == .vector(.boolean([true, false])))
        }
    }
}
