import Foundation
import MServeTestSupport
import Testing

/// Where the servant plugins are: the built ones next to the test binary, and C sources
/// compiled on the spot with the system `cc` into a test's temporary directory
/// (`withTemporaryDirectory("mserve-servant-plugin-tests")`: 0700, as the loader refuses a
/// plugin in a directory others may write).
enum PluginFiles {
    /// The package's root directory (this file is Tests/MServeServantPluginTests/Support/…).
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The built C statistics plugin.
    static var stats: String { MServeProcess.buildDirectory.appendingPathComponent("libmserve-servant-stats.so").path }

    /// The built demo API plugin.
    static var demoAPI: String {
        MServeProcess.buildDirectory.appendingPathComponent("libmserve-servant-demo-api.so").path
    }

    /// Compiles C `source` into `directory/name` as a shared library against plugins/include.
    static func compile(_ source: String, named name: String, in directory: URL) async throws -> String {
        let sourceFile = directory.appendingPathComponent(name + ".c")
        try source.write(to: sourceFile, atomically: true, encoding: .utf8)
        let library = directory.appendingPathComponent(name).path
        let compiler = try await SpawnedProcess.run(
            URL(fileURLWithPath: "/usr/bin/env"),
            [
                "cc", "-shared", "-fPIC", "-Wall", "-I", packageRoot.appendingPathComponent("plugins/include").path,
                "-o", library, sourceFile.path, "-lm",
            ])
        guard compiler.status == 0 else { throw TestFailure("cc failed for \(name): \(compiler.errors)") }
        // Whatever the umask: the loader refuses a plugin its group or others may write.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: library)
        return library
    }

    /// A C plugin serving `functions` (name, min, max), whose calls answer with `callBody`
    /// (C statements; `index`, `args`, `len` and `out` are in scope) and whose `free_result`
    /// runs `freeResultBody` (`r` in scope), after the file-scope C of `prelude`. `abiVersion`
    /// and `entryName` let a test build a broken one.
    static func cPlugin(
        name: String = "test",
        functions: [(String, Int, Int)],
        prelude: String = "",
        callBody: String = "(void)index; (void)args; (void)len; (void)out; return MSERVE_SERVANT_CALL_FAILED;",
        freeResultBody: String = "free(r->result_ipc); free(r->error);",
        abiVersion: String = "MSERVE_SERVANT_PLUGIN_ABI_VERSION",
        entryName: String = "mserve_servant_plugin_entry"
    ) -> String {
        let list = functions.map { "{\"\($0.0)\", \($0.1), \($0.2)}" }.joined(separator: ", ")
        return """
            #include "mserve_servant_plugin.h"
            #include <stdlib.h>
            #include <string.h>
            \(prelude)
            static const mserve_servant_function functions[] = { \(list) };
            static int32_t call(size_t index, const uint8_t *args, size_t len, mserve_servant_result *out) {
                \(callBody)
            }
            static void free_result(mserve_servant_result *r) { \(freeResultBody) }
            static const mserve_servant_plugin table = {
                \(abiVersion), "\(name)", "a test plugin", sizeof functions / sizeof functions[0], functions,
                call, free_result,
            };
            const mserve_servant_plugin *\(entryName)(void) { return &table; }
            """
    }
}
