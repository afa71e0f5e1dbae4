import Foundation
import MServeTestSupport
import Testing

extension IntegrationTests {
    /// `scripts/install` lays out an installation that runs as docs/OPERATIONS.md says: the
    /// programs and plugins in `PREFIX/lib/mserve` with the Swift runtime, links in `PREFIX/bin`,
    /// the C headers in `PREFIX/include`; a host without the toolchain runs it; installing again
    /// leaves nothing of the last installation; `--uninstall` removes it all.
    @Suite struct InstallScriptTests {
        static let script = URL(fileURLWithPath: packageRoot).appendingPathComponent("scripts/install")

        func install(_ arguments: [String]) async throws -> CommandRun {
            try await CommandRun.run(URL(fileURLWithPath: "/bin/bash"), [Self.script.path] + arguments, timeout: 120)
        }

        func mode(_ path: String) throws -> Int {
            try (FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
        }

        @Test func anInstallationRunsFromItsPrefixAndUninstallsWhole() async throws {
            try await withTemporaryDirectory("mserve-install") { prefix in
                let installed = try await install(["--prefix", prefix, "--from", MServeProcess.buildDirectory.path])
                #expect(installed.status == 0, "\(installed.errors)")

                let files = FileManager.default
                #expect(try files.destinationOfSymbolicLink(atPath: prefix + "/bin/mserve") == "../lib/mserve/mserve")
                #expect(try mode(prefix + "/lib/mserve") == 0o755)
                #expect(try mode(prefix + "/lib/mserve/mserve") == 0o755)
                #expect(try mode(prefix + "/lib/mserve/libmserve-algorithm-match.so") == 0o755)
                #expect(try mode(prefix + "/include/mserve_plugin.h") == 0o644)
                #expect(files.fileExists(atPath: prefix + "/include/mserve_servant_plugin.h"))
                #expect(files.fileExists(atPath: prefix + "/lib/mserve/libswiftCore.so"))

                // Through the link, the broker finds the plugins beside the file it leads to.
                let listed = try await CommandRun.run(
                    URL(fileURLWithPath: prefix + "/bin/mserve"), ["broker", "--list-algorithms"])
                #expect(listed.status == 0, "\(listed.errors)")
                for name in ["orig", "even", "match"] {
                    #expect(listed.output.contains(prefix + "/lib/mserve/libmserve-algorithm-\(name).so"), "\(listed.output)")
                }

                let removed = try await install(["--uninstall", "--prefix", prefix])
                #expect(removed.status == 0, "\(removed.errors)")
                let left = files.enumerator(atPath: prefix)?.compactMap { $0 as? String } ?? []
                #expect(left.sorted() == ["bin", "include", "lib"], "\(left)")
            }
        }

        /// The toolchain's runtime directory hidden (a mount namespace with an empty directory
        /// over it), or holding another library under the runtime's name (another toolchain
        /// there), the installed programs load the runtime copied beside them.
        @Test(.enabled(if: getuid() == 0, "needs root for a mount namespace"))
        func anInstallationRunsWhereNoToolchainIs() async throws {
            let linked = try await CommandRun.run(URL(fileURLWithPath: "/usr/bin/ldd"), [MServeProcess.executable.path])
            let core = linked.output.split(separator: "\n").first { $0.contains("libswiftCore.so =>") }
            let runtimePath = core?.split(separator: " ").dropFirst(2).first.map(String.init) ?? ""
            let runtime = URL(fileURLWithPath: runtimePath).resolvingSymlinksInPath().deletingLastPathComponent().path
            #expect(!runtimePath.isEmpty, "\(linked.output)")

            try await withTemporaryDirectory("mserve-install") { prefix in
                let installed = try await install(["--prefix", prefix, "--from", MServeProcess.buildDirectory.path])
                #expect(installed.status == 0, "\(installed.errors)")
                let hidden = "mount -t tmpfs tmpfs '\(runtime)' && ls -A '\(runtime)' | wc -l && exec '\(prefix)/bin/mserve' --version"
                let ran = try await CommandRun.run(URL(fileURLWithPath: "/usr/bin/unshare"), ["-m", "sh", "-c", hidden])
                #expect(ran.status == 0, "\(ran.errors)")
                #expect(ran.output.hasPrefix("0\nmserve "), "\(ran.output)")
                let foreign =
                    "mount -t tmpfs tmpfs '\(runtime)' && cp /lib/x86_64-linux-gnu/libm.so.6 '\(runtime)/libswiftCore.so'"
                    + " && exec '\(prefix)/bin/mserve' broker --list-algorithms"
                let beside = try await CommandRun.run(URL(fileURLWithPath: "/usr/bin/unshare"), ["-m", "sh", "-c", foreign])
                #expect(beside.status == 0, "\(beside.errors)")
                #expect(beside.output.contains(prefix + "/lib/mserve/libmserve-algorithm-match.so"), "\(beside.output)")

                let bare = try await install(["--prefix", prefix, "--from", MServeProcess.buildDirectory.path, "--no-runtime"])
                #expect(bare.status == 0, "\(bare.errors)")
                let failed = try await CommandRun.run(URL(fileURLWithPath: "/usr/bin/unshare"), ["-m", "sh", "-c", hidden])
                #expect(failed.status != 0, "\(failed.output)")
            }
        }

        @Test func installingAgainLeavesNothingOfTheLastInstallation() async throws {
            try await withTemporaryDirectory("mserve-install") { prefix in
                let arguments = ["--prefix", prefix, "--from", MServeProcess.buildDirectory.path, "--no-runtime"]
                #expect(try await install(arguments).status == 0)
                let stale = prefix + "/lib/mserve/libmserve-algorithm-stale.so"
                #expect(FileManager.default.createFile(atPath: stale, contents: Data("old".utf8)))
                let again = try await install(arguments)
                #expect(again.status == 0, "\(again.errors)")
                #expect(!FileManager.default.fileExists(atPath: stale))
                #expect(!FileManager.default.fileExists(atPath: prefix + "/lib/mserve/libswiftCore.so"))
                let entries = try FileManager.default.contentsOfDirectory(atPath: prefix + "/lib")
                #expect(entries == ["mserve"], "no staging directory is left: \(entries)")
            }
        }

        @Test func aPrefixOthersMayWriteIsWarnedOfAndNothingToRemoveIsSaid() async throws {
            try await withTemporaryDirectory("mserve-install") { prefix in
                let empty = try await install(["--uninstall", "--prefix", prefix])
                #expect(empty.status == 0)
                #expect(empty.output == "scripts/install: nothing of MServe was installed in \(prefix)\n", "\(empty.output)")
                #expect(chmod(prefix, 0o777) == 0)
                let installed = try await install(["--prefix", prefix, "--from", MServeProcess.buildDirectory.path, "--no-runtime"])
                #expect(installed.status == 0, "\(installed.errors)")
                #expect(
                    installed.errors.contains(
                        "scripts/install: warning: \(prefix) has mode 777, so others may write it: they could replace what is installed there, which mserve then runs; run chmod go-w \(prefix)"),
                    "\(installed.errors)")
                #expect(!installed.errors.contains("\(prefix)/lib has mode"), "\(installed.errors)")
            }
        }

        @Test func aWrongUseIsAUsageError() async throws {
            let unknown = try await install(["--prefx", "/tmp/x"])
            #expect(unknown.status == 64)
            #expect(unknown.errors.hasPrefix("scripts/install: unknown option '--prefx'\nusage: scripts/install"), "\(unknown.errors)")
            let missing = try await install(["--prefix", "/tmp/x", "--from", "/nonexistent-build"])
            #expect(missing.status == 1)
            #expect(missing.errors.contains("--from /nonexistent-build: no such directory"), "\(missing.errors)")
        }
    }
}
