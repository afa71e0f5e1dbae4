import Foundation
import MServeClient
import MServeTestSupport
import POSIXSockets
import QData
import Testing

extension IntegrationTests {
    /// The `mserve` command's own output: help and version go to standard output with status
    /// 0; a bad option is an error on standard error that points at the right help.
    @Suite struct CommandLineTests {
        @Test(arguments: [
            (["--help"], "USAGE: mserve <subcommand>"),
            (["-h"], "USAGE: mserve <subcommand>"),
            (["broker", "--help"], "USAGE: mserve broker <options>"),
            (["help", "servant"], "USAGE: mserve servant"),
            (["hub", "user", "--help"], "USAGE: mserve hub user"),
        ])
        func helpIsPrintedOnStandardOutput(arguments: [String], usage: String) async throws {
            let run = try await CommandRun.mserve(arguments)
            #expect(run.status == 0)
            #expect(run.output.hasPrefix("OVERVIEW:"), "\(run.output)")
            #expect(run.output.contains(usage), "\(run.output)")
            #expect(run.errors.isEmpty, "\(run.errors)")
        }

        /// The endpoints a broker and a hub bind when told none are in their help.
        @Test(arguments: [
            (["broker", "--help"], "--clients <endpoint> Endpoint clients connect to (env MSERVE_BROKER, default tcp://127.0.0.1:5570;"),
            (["hub", "serve", "--help"], "--bind <endpoint> Endpoint to bind (env MSERVE_HUB, default tcp://127.0.0.1:5560)"),
        ])
        func theHelpStatesTheDefaultEndpoints(arguments: [String], line: String) async throws {
            let run = try await CommandRun.mserve(arguments)
            #expect(run.status == 0)
            // The help is wrapped to the terminal's width: compare with the spaces folded.
            let text = run.output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(text.contains(line), "\(run.output)")
        }

        /// The help names the variable each option falls back to, and says what a stop and
        /// `send --keys` really do.
        @Test(arguments: [
            (["broker", "--help"], "--algorithm <name> Dispatch algorithm, NAME or NAME:CONFIG (env MSERVE_ALGO, default match)."),
            (["broker", "--help"], "--plugins <paths> Extra plugin files, colon-separated (repeatable; env MSERVE_PLUGINS)."),
            (["broker", "--help"], "A plugin, here or next to mserve, is refused if it or its directory belongs to another user than root or this one, or its group or others may write it."),
            (["servant", "--help"], "A plugin is refused if it or its directory belongs to another user than root or this one, or its group or others may write it."),
            (["keys", "new", "--help"], "It refuses as well a key directory its group or others may write, or that belongs to another user than root or its own: run chmod go-w on it."),
            (["keys", "new", "--help"], "So does `keys new`, before it writes a key there (a shared directory such as /tmp included: give a directory of your own)."),
            (["hub", "allow", "--help"],
             "The file is refused if it, or the directory holding it, belongs to a user other than root or yours, or its group "
                + "or others may write it (a shared directory such as /tmp included): whoever could change it would have their own key admitted."),
            (["hub", "user", "add", "--help"],
             "--password <text> The password, stored as a salted PBKDF2 hash; visible to other local users in the process list (give it on standard input instead)."),
            (["hub", "user", "add", "--help"],
             "give it so, as in `mserve hub user add NAME < password.txt`. A password or digest given on the command line is "
                + "in the process list while the command runs, where every local user may read it (ps; an unsalted digest can be "
                + "guessed against offline): the command warns of it on standard error, and goes on."),
            (["hub", "user", "add", "--help"],
             "--sha1 <hex> The SHA-1 digest of the password, 40 hex digits; - reads it from standard input (on the command "
                + "line it is visible to other local users in the process list)."),
            (["broker", "--help"], "or plugin:NAME[:config], the text after the name going to the plugin (env MSERVE_ROUTING, default arg:1)."),
            (["broker", "--help"], "for a q servant (repeatable; env MSERVE_SERVANTS, comma-separated)."),
            (["broker", "--help"], "or a name; default 127.0.0.1; env MSERVE_KDB_PORT)."),
            (["broker", "--help"], "the users of the --hub, refreshed every second (env MSERVE_USERS)."),
            (["broker", "--help"], "the broker logs in to; a user alone has no password, as kdb+ allows (env MSERVE_SERVANT_AUTH)."),
            (["servant", "--help"],
             "Stops cleanly on SIGTERM or SIGINT: it tells its brokers to send no more queries (DRAIN), handing back "
                + "the queries it had not started, which the brokers send to other servants at once; gives the queries "
                + "it is running up to 5 seconds (--drain) to finish and be answered, then, once each broker has "
                + "acknowledged the DRAIN (no query of its is still on its way), says goodbye (BYE)"),
            (["servant", "--help"], "Listens on loopback only (tcp://127.0.0.1:0, an OS-chosen free port) unless told otherwise"),
            (["servant", "--help"], "--allow <names> Only these functions may be called (comma-separated, repeatable; default any)."),
            (["servant", "--help"], "--direct Also run queries sent straight to this servant without a broker"),
            (["send", "--help"], "--broker <endpoint> The broker's client endpoint (env MSERVE_BROKER, default tcp://127.0.0.1:5570)."),
            (["demo", "--help"], "--servants <n> Servant processes to start, from 1 to 16. (default: 2)"),
            (["broker", "--help"], "MSERVE_HUB, MSERVE_HUB_DIR (the hub directory with --hub auto), MSERVE_KEYS, MSERVE_LOG_LEVEL"),
            (["servant", "--help"],
             "Environment (flags win): MSERVE_SERVANT_PLUGINS, Q_PLUGINS, MSERVE_HUB, MSERVE_HUB_DIR (the hub directory with "
                + "--hub auto), MSERVE_KEYS, MSERVE_LOG_LEVEL, MSERVE_STOP_WITH_PARENT (its parent's process id: stop once "
                + "that process is gone)."),
            (["servant", "--help"], "'auto' (serve the hub if its port is free, else join it; served from the hub directory MSERVE_HUB_DIR, default ~/.mserve/hub)"),
            (["hub", "--help"],
             "By default it binds tcp://127.0.0.1:5560 (--bind, env MSERVE_HUB), keeps its tables in ~/.mserve/hub "
                + "(--dir, env MSERVE_HUB_DIR) and moves a spoke to down after 3 seconds of silence (--liveness)."),
            (["send", "--help"],
             "--keys <path> Key directory: speak CURVE with NAME.key and pin the broker to broker.pub (see --broker-key); "
                + "with --service, pin it to the key it registered, and ask the hub pinned to hub.pub, which only "
                + "--service needs (env MSERVE_KEYS)."),
        ])
        func theHelpSaysWhatTheOptionsRead(arguments: [String], line: String) async throws {
            let run = try await CommandRun.mserve(arguments)
            #expect(run.status == 0)
            let text = run.output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(text.contains(line), "\(run.output)")
        }

        /// Each command's "Environment (flags win):" paragraph names every variable the command
        /// reads (docs/OPERATIONS.md, "Environment variables") and no other.
        @Test(arguments: [
            (["broker"], [
                "MSERVE_BROKER", "MSERVE_SERVANTS", "MSERVE_ALGO", "MSERVE_PLUGINS", "MSERVE_ROUTING", "MSERVE_HUB",
                "MSERVE_HUB_DIR", "MSERVE_KEYS", "MSERVE_LOG_LEVEL", "MSERVE_KDB_PORT", "MSERVE_HTTP", "MSERVE_MAX_MESSAGE",
                "MSERVE_QUEUE_BYTES", "MSERVE_CLIENT_REPLY_BUFFER", "MSERVE_CLIENT_REPLY_BUFFER_TOTAL", "MSERVE_USERS",
                "MSERVE_SERVANT_AUTH", "MSERVE_STOP_WITH_PARENT",
            ]),
            (["servant"], [
                "MSERVE_SERVANT_PLUGINS", "Q_PLUGINS", "MSERVE_HUB", "MSERVE_HUB_DIR", "MSERVE_KEYS", "MSERVE_LOG_LEVEL",
                "MSERVE_STOP_WITH_PARENT",
            ]),
            (["send"], ["MSERVE_BROKER", "MSERVE_HUB", "MSERVE_KEYS"]),
            (["hub", "serve"], ["MSERVE_HUB", "MSERVE_HUB_DIR", "MSERVE_KEYS", "MSERVE_HTTP", "MSERVE_LOG_LEVEL", "MSERVE_STOP_WITH_PARENT"]),
            (["hub", "register"], ["MSERVE_HUB", "MSERVE_LOG_LEVEL", "MSERVE_STOP_WITH_PARENT"]),
        ])
        func theEnvironmentParagraphNamesEveryVariableRead(command: [String], variables: [String]) async throws {
            let run = try await CommandRun.mserve(command + ["--help"])
            #expect(run.status == 0)
            let text = run.output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            let paragraph = try #require(text.range(of: "Environment (flags win): ").map { text[$0.upperBound...] }, "\(run.output)")
            let listed = try #require(paragraph.split(separator: ".").first)
            let named = listed.split(whereSeparator: { !($0.isUppercase || $0 == "_") }).filter { $0.contains("_") }.map(String.init)
            #expect(Set(named) == Set(variables), "\(listed)")
        }

        /// `hub keys` and `hub users` only read, and no admin token goes with a read: they
        /// have no --dir (the hub directory the token is read from) that would do nothing.
        @Test(arguments: ["keys", "users"])
        func hubReadsHaveNoDirectory(command: String) async throws {
            let help = try await CommandRun.mserve(["hub", command, "--help"])
            #expect(help.status == 0)
            #expect(!help.output.contains("--dir"), "\(help.output)")
            #expect(!help.output.contains("admin token"), "\(help.output)")
            let run = try await CommandRun.mserve(["hub", command, "--dir", "/tmp", "--hub", "tcp://127.0.0.1:9", "--timeout", "0.2"])
            #expect(run.status == 64)
            #expect(run.errors.hasPrefix("Error: Unknown option '--dir'"), "\(run.errors)")
        }

        /// `hub memst` prints its few columns whole: it has no --all that would do nothing.
        @Test func hubMemstHasNoAll() async throws {
            let help = try await CommandRun.mserve(["hub", "memst", "--help"])
            #expect(help.status == 0)
            #expect(!help.output.contains("--all"), "\(help.output)")
            let run = try await CommandRun.mserve(["hub", "memst", "--all"])
            #expect(run.status == 64)
            #expect(run.errors.hasPrefix("Error: Unknown option '--all'"), "\(run.errors)")
        }

        @Test func theVersionIsPrintedOnStandardOutput() async throws {
            let run = try await CommandRun.mserve(["--version"])
            #expect(run.status == 0)
            #expect(run.output.hasPrefix("mserve "))
            #expect(run.output.contains("libzmq "))
            #expect(run.errors.isEmpty, "\(run.errors)")
        }

        /// `--list-functions` lists what the servant's READY would announce: with `--allow`,
        /// only the allowed functions.
        @Test func theFunctionListIsNarrowedByAllow() async throws {
            let all = try await CommandRun.mserve(["servant", "--list-functions"])
            #expect(all.status == 0, "\(all.errors)")
            let allNames = Set(all.output.split(separator: "\n").compactMap { $0.split(separator: "\t").first.map(String.init) })
            #expect(allNames.isSuperset(of: ["echo", "pid", "proc1"]), "\(all.output)")
            let allowed = try await CommandRun.mserve(["servant", "--list-functions", "--allow", "echo,pid"])
            #expect(allowed.status == 0, "\(allowed.errors)")
            let names = allowed.output.split(separator: "\n").compactMap { $0.split(separator: "\t").first.map(String.init) }
            #expect(names.sorted() == ["echo", "pid"], "\(allowed.output)")
        }

        /// `--allow` given twice allows the functions of both, as one comma-separated list
        /// would, at a servant and at a broker: the first is not dropped for the last.
        @Test func allowGivenTwiceAllowsEveryFunctionNamed() async throws {
            let listed = try await CommandRun.mserve(["servant", "--list-functions", "--allow", "echo", "--allow", "pid,proc1"])
            #expect(listed.status == 0, "\(listed.errors)")
            let names = listed.output.split(separator: "\n").compactMap { $0.split(separator: "\t").first.map(String.init) }
            #expect(names.sorted() == ["echo", "pid", "proc1"], "\(listed.output)")

            let cluster = try await ProcessCluster.start(servants: 1, brokerArguments: ["--allow", "echo", "--allow", "pid"])
            defer { cluster.stop() }
            #expect(await cluster.allServantsReady())
            let client = try QueryClient(endpoint: cluster.broker.endpoint)
            defer { client.close() }
            #expect(try await client.send("echo 42").result == .atom(.long(42)))
            _ = try await client.send("pid[]")
            await #expect {
                try await client.send("proc1 `IBM")
            } throws: { error in
                guard let error = error as? ClientError else { return false }
                return error.code == .queryFailed && error.message.contains("`proc1` is not in the list of allowed functions")
            }
        }

        @Test func anUnknownOptionIsAnErrorWithTheSubcommandsUsage() async throws {
            let run = try await CommandRun.mserve(["servant", "--no-such-option"])
            #expect(run.status == 64)
            #expect(run.output.isEmpty)
            #expect(run.errors.hasPrefix("Error: Unknown option '--no-such-option'"), "\(run.errors)")
            #expect(run.errors.contains("mserve servant --help"), "\(run.errors)")
        }

        /// A word that names no subcommand of a command that has some is a usage error naming
        /// the word, the subcommands and the closest one, with or without `--help` after it:
        /// before, `mserve brokr --help` printed the top-level help with status 0, and
        /// `mserve keys neww x` said only "2 unexpected arguments".
        @Test(arguments: [
            (["brokr"], "Error: 'brokr' is not an mserve subcommand; did you mean 'broker'? (subcommands: demo, broker,"),
            (["brokr", "--help"], "Error: 'brokr' is not an mserve subcommand; did you mean 'broker'?"),
            (["status", "--help"], "Error: 'status' is not an mserve subcommand (subcommands:"),
            (["keys", "neww", "x"], "Error: 'neww' is not a subcommand of mserve keys; did you mean 'new'? (subcommands: new)"),
            (["hub", "nosuch", "--help"], "Error: 'nosuch' is not a hub subcommand (subcommands: serve,"),
            (["hub", "spoke"], "Error: 'spoke' is not a hub subcommand; did you mean 'spokes'?"),
        ])
        func aWordThatNamesNoSubcommandIsAnError(arguments: [String], message: String) async throws {
            let run = try await CommandRun.mserve(arguments)
            #expect(run.status == 64, "\(run.errors)")
            #expect(run.output.isEmpty, "\(run.output)")
            #expect(run.errors.hasPrefix(message), "\(run.errors)")
        }

        /// `mserve help WORD` with a word that names no command is a usage error naming the word,
        /// not the nearest help with status 0.
        @Test(arguments: [
            (["help", "bogus"], "Error: 'bogus' is not an mserve subcommand (subcommands: demo, broker,"),
            (["help", "hub", "bogus"], "Error: 'bogus' is not a subcommand of mserve hub (subcommands: serve,"),
            // A command without subcommands says so, not an empty list.
            (["help", "broker", "bogus"], "Error: mserve broker has no subcommand 'bogus': it has no subcommands\n"),
            (["help", "hub", "serve", "x"], "Error: mserve hub serve has no subcommand 'x': it has no subcommands\n"),
            // `help` names the help command, which has none either.
            (["help", "help", "broker"], "Error: mserve help has no subcommand 'broker': it has no subcommands\n"),
            (["help", "help", "help"], "Error: mserve help has no subcommand 'help': it has no subcommands\n"),
            // Only mserve itself has a help command.
            (["help", "hub", "help"], "Error: 'help' is not a subcommand of mserve hub (subcommands: serve,"),
        ])
        func helpForAnUnknownSubcommandIsAnError(arguments: [String], message: String) async throws {
            let run = try await CommandRun.mserve(arguments)
            #expect(run.status == 64)
            #expect(run.output.isEmpty, "\(run.output)")
            #expect(run.errors.hasPrefix(message), "\(run.errors)")
        }

        /// `mserve help help` prints the help command's own help, as `mserve help broker` prints
        /// the broker's: before, it was refused as naming no subcommand.
        @Test func helpHelpPrintsTheHelpOfTheHelpCommand() async throws {
            let run = try await CommandRun.mserve(["help", "help"])
            #expect(run.status == 0, "\(run.errors)")
            #expect(run.errors.isEmpty, "\(run.errors)")
            #expect(run.output.hasPrefix("OVERVIEW: Show subcommand help information."), "\(run.output)")
            #expect(run.output.contains("USAGE: mserve help [<subcommands> ...]"), "\(run.output)")
        }

        @Test func aMistypedHubSubcommandIsNamedWithTheSubcommands() async throws {
            let run = try await CommandRun.mserve(["hub", "spoke"])
            #expect(run.status == 64)
            #expect(run.errors.hasPrefix("Error: 'spoke' is not a hub subcommand; did you mean 'spokes'?"), "\(run.errors)")
            #expect(run.errors.contains("resolve"), "\(run.errors)")
        }

        /// An option `mserve hub` (its default `serve`) does not take is named as unknown, with
        /// the usage, as for other commands: not its value taken for a mistyped subcommand.
        @Test(arguments: [
            (["hub", "--endpoint", "tcp://127.0.0.1:5000"], "--endpoint"),
            (["hub", "--endpoint=tcp://127.0.0.1:5000"], "--endpoint"),
            (["hub", "serve", "--endpoint", "tcp://127.0.0.1:5000"], "--endpoint"),
            (["hub", "--liveness", "5", "-e", "tcp://127.0.0.1:5000"], "-e"),
        ])
        func anUnknownHubOptionIsNamed(arguments: [String], option: String) async throws {
            let run = try await CommandRun.mserve(arguments)
            #expect(run.status == 64)
            #expect(run.output.isEmpty, "\(run.output)")
            #expect(run.errors.hasPrefix("Error: Unknown option '\(option)' for mserve hub serve\n"), "\(run.errors)")
            #expect(run.errors.contains("Usage: mserve hub serve [--bind <endpoint>]"), "\(run.errors)")
            #expect(run.errors.contains("mserve hub serve --help"), "\(run.errors)")
            #expect(!run.errors.contains("is not a hub subcommand"), "\(run.errors)")
        }

        /// A usage error points at the help of the command given; a runtime failure (here a hub
        /// that does not answer) is reported with its reason alone.
        @Test func onlyAUsageErrorPointsAtTheHelp() async throws {
            let hub = "tcp://127.0.0.1:\(LoopbackPort.free())"
            let silent = try await CommandRun.mserve(["hub", "spokes", "--timeout", "0.2", "--hub", hub], timeout: 60)
            #expect(silent.status == 1)
            #expect(silent.errors.hasPrefix("Error: the hub at \(hub) did not answer"), "\(silent.errors)")
            #expect(!silent.errors.contains("--help"), "\(silent.errors)")

            let usage = try await CommandRun.mserve(["hub", "spokes", "--timeout", "soon", "--hub", hub], timeout: 60)
            #expect(usage.status == 64)
            #expect(usage.errors.hasPrefix("Error: --timeout expects a number of seconds"), "\(usage.errors)")
            #expect(usage.errors.hasSuffix("See 'mserve hub spokes --help' for more information.\n"), "\(usage.errors)")
        }

        /// `mserve hub` alone serves the hub: its help says where the serving options are, and
        /// an error of `mserve hub --keys …` points at the help that lists them.
        @Test func hubPointsAtTheHelpOfItsDefaultServe() async throws {
            let help = try await CommandRun.mserve(["hub", "--help"])
            #expect(help.status == 0)
            #expect(help.output.contains("see `mserve hub serve --help`"), "\(help.output)")

            try await withTemporaryDirectory("mserve-hub") { directory in
                let noKeys = try await CommandRun.mserve(
                    ["hub", "--bind", "tcp://127.0.0.1:0", "--dir", directory, "--keys", directory + "/no-such-keys"],
                    timeout: 60)
                #expect(noKeys.status == 64)
                #expect(noKeys.errors.hasPrefix("Error: --keys: "), "\(noKeys.errors)")
                #expect(noKeys.errors.hasSuffix("See 'mserve hub serve --help' for more information.\n"), "\(noKeys.errors)")
            }
        }

        /// A secured broker does not open a kdb+ door that anyone may use: `--keys` (or
        /// MSERVE_KEYS) with `--kdb-port` needs `--users`.
        @Test(arguments: [
            (["--keys", "KEYS"], [:], "--keys"), ([], ["MSERVE_KEYS": "KEYS"], "MSERVE_KEYS"),
        ] as [([String], [String: String], String)])
        func aSecuredBrokerRefusesAKdbDoorWithoutUsers(
            keys: [String], environment: [String: String], source: String
        ) async throws {
            try await withTemporaryDirectory("mserve-keys") { directory in
                let run = try await CommandRun.mserve(
                    ["broker", "--clients", "tcp://127.0.0.1:0", "--kdb-port", "127.0.0.1:0"]
                        + keys.map { $0 == "KEYS" ? directory : $0 },
                    environment: environment.mapValues { $0 == "KEYS" ? directory : $0 }, timeout: 60)
                #expect(run.status == 64, "\(run.errors)")
                #expect(
                    run.errors.contains("would let any kdb+ client in without a password, while \(source) admits only listed keys"),
                    "\(run.errors)")
                #expect(run.errors.contains("give --users FILE"), "\(run.errors)")

                // With users, the door is not what stops it.
                let users = directory + "/users"
                #expect(
                    FileManager.default.createFile(
                        atPath: users, contents: Data("alice:wonderland\n".utf8), attributes: [.posixPermissions: 0o600]))
                let withUsers = try await CommandRun.mserve(
                    ["broker", "--clients", "tcp://127.0.0.1:0", "--kdb-port", "127.0.0.1:0", "--users", users]
                        + keys.map { $0 == "KEYS" ? directory : $0 },
                    environment: environment.mapValues { $0 == "KEYS" ? directory : $0 }, timeout: 60)
                #expect(!withUsers.errors.contains("without a password"), "\(withUsers.errors)")
            }
        }

        /// `--keys` needs a hub endpoint: the error says so, and speaks of auto mode only when it
        /// was asked for.
        @Test func keysWithoutAHubEndpointSayWhatIsMissing() async throws {
            try await withTemporaryDirectory("mserve-keys") { directory in
                for name in ["broker", "hub"] {
                    #expect(try await CommandRun.mserve(["keys", "new", name, "--keys", directory]).status == 0)
                }
                let none = try await CommandRun.mserve(["broker", "--keys", directory], environment: ["MSERVE_HUB": ""])
                #expect(none.status == 64)
                #expect(none.errors.hasPrefix("Error: --keys needs --hub ENDPOINT (or MSERVE_HUB): the hub lists the allowed keys\n"), "\(none.errors)")
                let auto = try await CommandRun.mserve(["broker", "--keys", directory, "--hub", "auto"])
                #expect(auto.status == 64)
                #expect(auto.errors.contains("not auto: the hub lists the allowed keys, and auto mode is not secured"), "\(auto.errors)")
                // Given by the variable, the key directory is named by it.
                let fromVariable = try await CommandRun.mserve(["broker"], environment: ["MSERVE_HUB": "", "MSERVE_KEYS": directory])
                #expect(fromVariable.status == 64)
                #expect(fromVariable.errors.hasPrefix("Error: MSERVE_KEYS needs --hub ENDPOINT (or MSERVE_HUB)"), "\(fromVariable.errors)")
            }
        }

        @Test func keysNewTakesTheKeyDirectoryAsEveryCommandDoes() async throws {
            try await withTemporaryDirectory("mserve-keys") { directory in
                let made = try await CommandRun.mserve(["keys", "new", "broker", "--keys", directory])
                #expect(made.status == 0, "\(made.errors)")
                #expect(made.output.trimmingCharacters(in: .newlines).utf8.count == 40)
                let alias = try await CommandRun.mserve(["keys", "new", "client", "--dir", directory])
                #expect(alias.status == 0, "\(alias.errors)")
                #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == [
                    "broker.key", "broker.pub", "client.key", "client.pub",
                ])
                let escape = try await CommandRun.mserve(["keys", "new", "../escape", "--keys", directory])
                #expect(escape.status == 64)
                #expect(escape.errors.contains("'../escape' cannot name a key"), "\(escape.errors)")
            }
        }

        /// `keys new` gives the secret key mode 0600 and the public one 0644 whatever the umask,
        /// even 000.
        @Test func keysNewWritesTheSecretKeyOwnerOnlyEvenWithUmask000() async throws {
            try await withTemporaryDirectory("mserve-keys") { directory in
                let made = try await CommandRun.run(
                    URL(fileURLWithPath: "/bin/sh"),
                    ["-c", "umask 000 && exec \"$0\" keys new servant --keys \"$1\"", MServeProcess.executable.path, directory])
                #expect(made.status == 0, "\(made.errors)")
                let secret = try FileManager.default.attributesOfItem(atPath: directory + "/servant.key")
                let `public` = try FileManager.default.attributesOfItem(atPath: directory + "/servant.pub")
                #expect((secret[.posixPermissions] as? NSNumber)?.intValue == 0o600)
                #expect((`public`[.posixPermissions] as? NSNumber)?.intValue == 0o644)
                // A key directory it makes is its user's alone.
                let made2 = try await CommandRun.mserve(["keys", "new", "hub", "--keys", directory + "/new"])
                #expect(made2.status == 0, "\(made2.errors)")
                let created = try FileManager.default.attributesOfItem(atPath: directory + "/new")
                #expect((created[.posixPermissions] as? NSNumber)?.intValue == 0o700)
            }
        }

        /// A process given a secret key that others may read refuses to start (status 64),
        /// naming the file, its mode and the fix, as ssh does.
        @Test func aSecretKeyOthersMayReadIsRefused() async throws {
            try await withTemporaryDirectory("mserve-keys") { directory in
                #expect(try await CommandRun.mserve(["keys", "new", "servant", "--keys", directory]).status == 0)
                let file = directory + "/servant.key"
                try FileManager.default.setAttributes([.posixPermissions: NSNumber(value: 0o644)], ofItemAtPath: file)
                let refused = try await CommandRun.mserve(
                    ["servant", "--keys", directory, "--hub", "tcp://127.0.0.1:\(LoopbackPort.free())"], timeout: 60)
                #expect(refused.status == 64)
                #expect(
                    refused.errors.contains(
                        "Error: --keys: the secret key file \(file) has mode 0644, so its group may read it and other users may read it: "
                            + "a secret key must be readable by its owner only; run chmod 600 \(file)\n"),
                    "\(refused.errors)")
                #expect(refused.output.isEmpty, "\(refused.output)")
            }
        }

        @Test func aKeyDirectoryOthersMayWriteIsRefused() async throws {
            try await withTemporaryDirectory("mserve-keys") { directory in
                #expect(try await CommandRun.mserve(["keys", "new", "servant", "--keys", directory]).status == 0)
                #expect(chmod(directory, 0o777) == 0)
                let refused = try await CommandRun.mserve(
                    ["servant", "--keys", directory, "--hub", "tcp://127.0.0.1:\(LoopbackPort.free())"], timeout: 60)
                #expect(refused.status == 64)
                #expect(
                    refused.errors.contains(
                        "Error: --keys: the key directory \(directory) has mode 0777, so its group may read, write and execute it "
                            + "and other users may read, write and execute it: whoever may write it could replace its keys and "
                            + "hub.pub (the hub this process trusts); run chmod go-w \(directory)\n"),
                    "\(refused.errors)")
                #expect(refused.output.isEmpty, "\(refused.output)")
            }
        }

        /// `keys new` refuses a key directory another user could write, as the commands loading
        /// keys do (status 64, the same words), before it writes a key there: one others may
        /// write, a shared sticky one such as /tmp (whose fix is to move, not chmod), and, as
        /// root, a link to a directory of another user's, planted where the keys were to go.
        @Test func keysNewRefusesAKeyDirectoryOthersMayWrite() async throws {
            try await withTemporaryDirectory("mserve-keys") { temporary in
                let open = temporary + "/open"
                let shared = temporary + "/shared"
                for (directory, mode) in [(open, 0o777), (shared, 0o1777)] {
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
                    #expect(chmod(directory, mode_t(mode)) == 0)
                }
                let refused = try await CommandRun.mserve(["keys", "new", "servant", "--keys", open])
                #expect(refused.status == 64, "\(refused.errors)")
                #expect(
                    refused.errors.contains(
                        "Error: --keys: the key directory \(open) has mode 0777, so its group may read, write and execute it "
                            + "and other users may read, write and execute it: whoever may write it could replace its keys and "
                            + "hub.pub (the hub this process trusts); run chmod go-w \(open)\n"),
                    "\(refused.errors)")
                #expect(refused.output.isEmpty, "\(refused.output)")

                let sticky = try await CommandRun.mserve(["keys", "new", "servant"], environment: ["MSERVE_KEYS": shared])
                #expect(sticky.status == 64, "\(sticky.errors)")
                #expect(sticky.errors.hasPrefix("Error: MSERVE_KEYS: the key directory \(shared) has mode 1777"), "\(sticky.errors)")
                #expect(
                    sticky.errors.contains("it is a shared directory (sticky, as /tmp is), so leave its mode and move the keys to a directory only"),
                    "\(sticky.errors)")
                for directory in [open, shared] {
                    #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == [], "nothing written in \(directory)")
                }

                guard geteuid() == 0 else { return }
                let others = temporary + "/others"
                try FileManager.default.createDirectory(atPath: others, withIntermediateDirectories: false)
                #expect(chown(others, 65_534, 65_534) == 0)
                let link = temporary + "/keys"
                try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: others)
                let linked = try await CommandRun.mserve(["keys", "new", "servant", "--keys", link])
                #expect(linked.status == 64, "\(linked.errors)")
                #expect(linked.errors.hasPrefix("Error: --keys: the key directory \(link) belongs to uid 65534"), "\(linked.errors)")
                #expect(try FileManager.default.contentsOfDirectory(atPath: others) == [])
            }
        }

        /// `hub allow` refuses a public key file another user could have changed or replaced,
        /// before it asks the hub (none answers here): one in a directory others may write,
        /// one that is writable by others, and, as root, one that belongs to another user
        /// (whose key would be admitted in the name and role given), naming its owner.
        @Test func hubAllowRefusesAPublicKeyFileOthersControl() async throws {
            try await withTemporaryDirectory("mserve-keys") { temporary in
                let keys = temporary + "/keys"
                #expect(try await CommandRun.mserve(["keys", "new", "servant", "--keys", keys]).status == 0)
                let publicKey = keys + "/servant.pub"
                func allow(_ file: String) async throws -> CommandRun {
                    try await CommandRun.mserve(
                        ["hub", "allow", "servant", file, "--role", "servant", "--hub", "tcp://127.0.0.1:\(LoopbackPort.free())", "--timeout", "0.2"],
                        timeout: 60)
                }
                let open = temporary + "/open"
                try FileManager.default.createDirectory(atPath: open, withIntermediateDirectories: false)
                #expect(chmod(open, 0o777) == 0)
                try FileManager.default.copyItem(atPath: publicKey, toPath: open + "/servant.pub")
                let inOpen = try await allow(open + "/servant.pub")
                #expect(inOpen.status == 64, "\(inOpen.errors)")
                #expect(
                    inOpen.errors.contains(
                        "Error: the directory \(open) of the public key file \(open)/servant.pub has mode 0777"),
                    "\(inOpen.errors)")
                #expect(inOpen.errors.contains("run chmod go-w \(open)"), "\(inOpen.errors)")

                #expect(chmod(publicKey, 0o666) == 0)
                let writable = try await allow(publicKey)
                #expect(writable.status == 64, "\(writable.errors)")
                #expect(writable.errors.contains("Error: the public key file \(publicKey) has mode 0666"), "\(writable.errors)")
                #expect(chmod(publicKey, 0o644) == 0)

                guard geteuid() == 0 else { return }
                #expect(chown(publicKey, 65_534, 65_534) == 0)
                let owned = try await allow(publicKey)
                #expect(owned.status == 64, "\(owned.errors)")
                #expect(
                    owned.errors.contains(
                        "Error: the public key file \(publicKey) belongs to uid 65534, who could put their own key in it"),
                    "\(owned.errors)")
                // Given back to this user, it passes the check and goes on to ask the hub.
                #expect(chown(publicKey, 0, 0) == 0)
                let mine = try await allow(publicKey)
                #expect(mine.status != 64, "\(mine.errors)")
                #expect(!mine.errors.contains("public key file"), "\(mine.errors)")
            }
        }

        /// A key directory root made (0700) that a service's own user may not enter: the refusal
        /// says so and what to change, not a bare "Permission denied" on the key file.
        @Test(
            .enabled(
                if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
                "needs root, to give a key to another user, and setpriv, to run as that user"))
        func aKeyDirectoryTheUserMayNotEnterIsNamedWithTheFix() async throws {
            try await withTemporaryDirectory("mserve-keys-shared") { temporary in
                #expect(chmod(temporary, 0o711) == 0)
                let directory = URL(fileURLWithPath: temporary).resolvingSymlinksInPath().path + "/keys"
                #expect(try await CommandRun.mserve(["keys", "new", "servant", "--keys", directory]).status == 0)
                #expect(chown(directory + "/servant.key", 65_534, 65_534) == 0)
                func runAsNobody() async throws -> CommandRun {
                    try await CommandRun.run(
                        URL(fileURLWithPath: "/usr/bin/setpriv"),
                        ["--reuid=65534", "--regid=65534", "--clear-groups", MServeProcess.executable.path]
                            + ["servant", "--keys", directory, "--hub", "tcp://127.0.0.1:\(LoopbackPort.free())"],
                        timeout: 60)
                }
                let refused = try await runAsNobody()
                #expect(refused.status == 64, "\(refused.errors)")
                #expect(
                    refused.errors.contains(
                        "Permission denied; this user (uid 65534) may not enter the directory \(directory) (mode 0700, owned by uid 0): "
                            + "let it in (chmod 755 \(directory): the secret keys in it stay readable by their owners alone), "
                            + "or give this user a key directory of its own"),
                    "\(refused.errors)")
                // Let in, it reads its key (and goes on to what else it lacks, the hub's key).
                #expect(chmod(directory, 0o755) == 0)
                let entered = try await runAsNobody()
                #expect(!entered.errors.contains("may not enter"), "\(entered.errors)")
                #expect(!entered.errors.contains("servant.key"), "\(entered.errors)")
            }
        }

        /// A hub directory others may write is a setting to change, as a key directory is:
        /// status 64, the directory, its mode and the fix, and nothing served.
        @Test func aHubDirectoryOthersMayWriteIsRefusedAsAUsageError() async throws {
            try await withTemporaryDirectory("mserve-hub-directory") { directory in
                #expect(chmod(directory, 0o777) == 0)
                let refused = try await CommandRun.mserve(
                    ["hub", "--dir", directory, "--bind", "tcp://127.0.0.1:\(LoopbackPort.free())"], timeout: 60)
                #expect(refused.status == 64, "\(refused.errors)")
                #expect(
                    refused.errors.contains(
                        "Error: the hub directory \(directory) has mode 0777, so its group may read, write and execute it "
                            + "and other users may read, write and execute it: the hub keeps its database and admin token there; "
                            + "run chmod 700 \(directory)"),
                    "\(refused.errors)")
                #expect(refused.output.isEmpty, "\(refused.output)")
            }
        }

        /// A key file or directory that cannot be made is a failure with the path and its
        /// POSIX reason, in one line and without the help; only a bad name is a usage error.
        @Test func keysNewReportsAFileItCannotMakeWithThePathAndTheReason() async throws {
            try await withTemporaryDirectory("mserve-keys") { directory in
                let file = directory + "/a-file"
                #expect(FileManager.default.createFile(atPath: file, contents: Data("x".utf8)))
                let notADirectory = try await CommandRun.mserve(["keys", "new", "x", "--keys", file])
                #expect(notADirectory.status == 1)
                #expect(notADirectory.errors == "Error: cannot create the key directory \(file): File exists\n", "\(notADirectory.errors)")
                #expect(notADirectory.output.isEmpty, "\(notADirectory.output)")

                let made = try await CommandRun.mserve(["keys", "new", "x", "--keys", directory])
                #expect(made.status == 0, "\(made.errors)")
                let again = try await CommandRun.mserve(["keys", "new", "x", "--keys", directory])
                #expect(again.status == 1)
                #expect(again.errors == "Error: \(directory)/x.key exists; remove it first to make a new key\n", "\(again.errors)")
            }
        }

        /// A plugin file that does not exist is a usage error naming where it was given, for
        /// the servant as for the broker.
        @Test(arguments: [
            (["broker", "--plugins", "/nonexistent.so"], [:], "--plugins: /nonexistent.so: no such dispatch plugin file", "broker"),
            (
                ["broker", "--plugins", "/a.so,/b.so"], [:],
                "--plugins: /a.so,/b.so: no such dispatch plugin file (several plugin files are separated by ':', not ',')", "broker"
            ),
            (
                ["broker"], ["MSERVE_PLUGINS": "match.q"],
                "MSERVE_PLUGINS: match.q: a q script; a dispatch plugin is a shared library exporting mserve_dispatch_plugin_entry (docs/PLUGINS.md)",
                "broker"
            ),
            (["servant", "--plugins", "/nonexistent.so"], [:], "--plugins: /nonexistent.so: no such servant plugin file", "servant"),
            (["servant"], ["MSERVE_SERVANT_PLUGINS": "/nonexistent.so"],
             "MSERVE_SERVANT_PLUGINS: /nonexistent.so: no such servant plugin file", "servant"),
            (["servant", "--list-functions"], ["Q_PLUGINS": "/nonexistent.so"],
             "Q_PLUGINS: /nonexistent.so: no such servant plugin file", "servant"),
        ] as [([String], [String: String], String, String)])
        func aMissingPluginFileIsAUsageError(
            arguments: [String], environment: [String: String], message: String, command: String
        ) async throws {
            let run = try await CommandRun.mserve(arguments, environment: environment, timeout: 60)
            #expect(run.status == 64, "\(run.errors)")
            #expect(
                run.errors == "Error: \(message)\nSee 'mserve \(command) --help' for more information.\n", "\(run.errors)")
            #expect(run.output.isEmpty, "\(run.output)")
        }

        /// A process at its open-files limit gets an error from ZeroMQ, never an abort: libzmq
        /// aborts the process when a new context's threads cannot open their descriptors
        /// (`epoll.cpp`), which the wrapper checks for before it makes one. Each limit leaves a
        /// different number of descriptors to the command's hub request.
        @Test func aCommandAtItsOpenFilesLimitFailsWithAnErrorNotAnAbort() async throws {
            // How many descriptors a limit leaves depends on those the process starts with: at
            // the higher limits it may have enough, and only find no hub there.
            var refusedForDescriptors = 0
            for limit in 8...14 {
                let run = try await CommandRun.run(
                    URL(fileURLWithPath: "/bin/bash"),
                    [
                        "-c", "ulimit -n \(limit) && exec \"$0\" hub resolve default --hub tcp://127.0.0.1:1 --timeout 0.5",
                        MServeProcess.executable.path,
                    ])
                #expect(run.status == 1, "ulimit -n \(limit): status \(run.status): \(run.errors)")
                let forDescriptors = run.errors.contains("open-files limit") || run.errors.contains("Too many open files")
                if forDescriptors { refusedForDescriptors += 1 }
                #expect(
                    forDescriptors || run.errors.contains("the hub at tcp://127.0.0.1:1 did not answer"),
                    "ulimit -n \(limit): \(run.errors)")
            }
            #expect(refusedForDescriptors > 0, "no limit from 8 to 14 ran the command out of descriptors")
        }

        /// A servant whose worker threads the system refuses (the user's process limit) says so,
        /// with how many run, rather than take `--threads` queries at once and run fewer without
        /// a word. Only root can set the case up: it runs the servant as a user id of its own
        /// (the limit counts the threads of every process of that user: a shared one, nobody,
        /// would count other processes' too), killed after 8 s (a servant at its thread limit
        /// may not get to its SIGTERM handler).
        @Test(
            .enabled(
                if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
                "needs root, to run the servant as another user under a process limit, and setpriv"))
        func aServantWhoseWorkerThreadsAreRefusedSaysHowManyRun() async throws {
            let run = try await CommandRun.run(
                URL(fileURLWithPath: "/bin/bash"),
                [
                    "-c",
                    "ulimit -u 12 && exec timeout -s KILL 8 setpriv --reuid=$1 --regid=$1 --clear-groups \"$0\" servant --bind tcp://127.0.0.1:0 --threads 8",
                    MServeProcess.executable.path, "\(40_000 + getpid() % 20_000)",
                ])
            let warning = run.errors.split(separator: "\n").first { $0.contains("worker threads within 2 s each") }
            #expect(warning?.contains("of 8 worker threads within 2 s each: the process may be at its thread limit") == true, "\(run.errors)")
            #expect(warning?.contains("started 8 of 8") == false)
        }

        /// Standard error on a pipe whose reader is gone fails each write with EPIPE: the command
        /// goes on and ends as it would (here, a broker that does not answer: status 1), rather
        /// than being killed by SIGPIPE without a word at its first line.
        @Test func aCommandWhoseStandardErrorReaderIsGoneEndsAsItWould() async throws {
            var ends: [Int32] = [0, 0]
            try #require(pipe(&ends) == 0)
            close(ends[0])
            defer { close(ends[1]) }
            let process = Process()
            process.executableURL = MServeProcess.executable
            process.arguments = ["send", "--broker", "tcp://127.0.0.1:1", "--connect-timeout", "0.5", "echo 1"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle(fileDescriptor: ends[1], closeOnDealloc: false)
            try process.run()
            await withCheckedContinuation { continuation in
                DispatchQueue.global().async {
                    process.waitUntilExit()
                    continuation.resume()
                }
            }
            #expect(process.terminationReason == .exit, "killed by signal \(process.terminationStatus)")
            #expect(process.terminationStatus == 1)
        }

        /// `mserve send` whose answers cannot reach standard output (a full disk) exits 1 and says
        /// so on standard error, rather than exit 0 with the answer lost.
        @Test func aSendWhoseAnswerCannotBeWrittenExitsOne() async throws {
            let broker = try await MServeProcess("broker", ["broker", "--clients", "tcp://127.0.0.1:0"])
            defer { broker.stop() }
            let run = try await CommandRun.run(
                URL(fileURLWithPath: "/bin/bash"),
                ["-c", "exec \"$0\" send --broker \"$1\" '.mserve.status[]' > /dev/full", MServeProcess.executable.path, broker.endpoint])
            #expect(run.status == 1, "\(run.errors)")
            #expect(run.errors.contains("mserve send: cannot write the answers to standard output: No space left on device"), "\(run.errors)")
        }

        /// Standard output on a full disk: the endpoint line cannot be written, and the broker
        /// runs on (its clients find it by the endpoint they gave it) and stops cleanly on
        /// SIGTERM, instead of stopping at the line (Foundation's `write` traps on the error).
        @Test func aBrokerWhoseStandardOutputIsFullRunsOn() async throws {
            let process = Process()
            process.executableURL = MServeProcess.executable
            process.arguments = ["broker", "--clients", "tcp://127.0.0.1:0"]
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: "/dev/full"))
            let errors = Pipe()
            process.standardError = errors
            let collected = ByteCollector()
            collected.collect(from: errors.fileHandleForReading)
            var logged: String { String(decoding: collected.bytes, as: UTF8.self) }
            try process.run()
            defer { if process.isRunning { process.terminate() } }
            #expect(await eventually { logged.contains("broker listening for clients") })
            // The endpoint line follows the bind; the broker is still there to be stopped.
            try await Task.sleep(for: .milliseconds(500))
            #expect(process.isRunning, "\(logged)")
            process.terminate()
            await withCheckedContinuation { continuation in
                DispatchQueue.global().async {
                    process.waitUntilExit()
                    continuation.resume()
                }
            }
            #expect(process.terminationReason == .exit && process.terminationStatus == 0, "\(logged)")
        }

        /// A port already taken, or an endpoint that is not one, stops the command at once with
        /// the reason, instead of leaving it waiting for sockets that were never closed.
        @Test func aPortInUseOrABadEndpointStopsTheCommandWithTheReason() async throws {
            let broker = try await MServeProcess("broker", ["broker", "--clients", "tcp://127.0.0.1:0"])
            defer { broker.stop() }

            let secondBroker = try await CommandRun.mserve(["broker", "--clients", broker.endpoint], timeout: 60)
            #expect(secondBroker.status == 1)
            #expect(secondBroker.errors.contains("cannot bind the client endpoint \(broker.endpoint)"), "\(secondBroker.errors)")
            #expect(secondBroker.errors.contains("Address already in use"), "\(secondBroker.errors)")

            let servant = try await CommandRun.mserve(["servant", "--bind", broker.endpoint], timeout: 60)
            #expect(servant.status == 1)
            #expect(servant.errors.contains("cannot bind \(broker.endpoint)"), "\(servant.errors)")

            // A usage error, found before anything is sent (SendCommandTests has the others).
            let send = try await CommandRun.mserve(["send", "--broker", "not-an-endpoint", "echo 1"], timeout: 60)
            #expect(send.status == 64)
            #expect(
                send.errors.contains("--broker 'not-an-endpoint' is not a broker's client endpoint: tcp://HOST:PORT"),
                "\(send.errors)")
            #expect(!send.errors.contains(".swift:"), "no source locations for users: \(send.errors)")

            let taken = try TCPSocket.listen(host: "127.0.0.1", port: 0)
            defer { TCPSocket.close(taken.descriptor) }
            let door = try await CommandRun.mserve(
                ["broker", "--clients", "tcp://127.0.0.1:0", "--kdb-port", "127.0.0.1:\(taken.port)"], timeout: 60)
            #expect(door.status == 1)
            #expect(
                door.errors.contains("cannot listen on 127.0.0.1:\(taken.port): Address already in use"), "\(door.errors)")

            let unknownHost = try await CommandRun.mserve(
                ["broker", "--clients", "tcp://127.0.0.1:0", "--kdb-port", "no-such-host.invalid:5001"], timeout: 60)
            #expect(unknownHost.status != 0)
            #expect(unknownHost.errors.contains("cannot resolve no-such-host.invalid"), "\(unknownHost.errors)")
        }

        /// A number of seconds out of range is a usage error naming the flag, never a crash.
        @Test(arguments: [
            (["broker", "--deadline", "1e30"], "--deadline"),
            (["send", "--deadline=-1", "echo 1"], "--deadline"), (["servant", "--drain", "0"], "--drain"),
            (["send", "--service", "dev", "--hub", "tcp://127.0.0.1:9", "--connect-timeout", "0", "echo 1"], "--connect-timeout"),
        ])
        func secondsOutOfRangeAreRefusedWithTheFlag(arguments: [String], flag: String) async throws {
            let run = try await CommandRun.mserve(arguments, timeout: 60)
            #expect(run.status == 64, "\(run.errors)")
            #expect(run.errors.contains("\(flag) expects a number of seconds from 0.001 to 31536000"), "\(run.errors)")
        }

        /// `--status-every` out of range is refused with a range that names 0 (none), which it
        /// takes.
        @Test(arguments: [
            (["broker", "--status-every", "0.0000001"], "0.0000001"), (["broker", "--status-every", "-1"], "-1"),
            (["servant", "--status-every", "nan"], "nan"), (["servant", "--status-every", "0.0001"], "0.0001"),
        ])
        func statusIntervalsOutOfRangeAreRefusedWithZeroInTheRange(arguments: [String], value: String) async throws {
            let run = try await CommandRun.mserve(arguments, timeout: 60)
            #expect(run.status == 64, "\(run.errors)")
            #expect(
                run.errors.hasPrefix(
                    "Error: --status-every expects 0 (none) or a number of seconds from 0.001 to 31536000 (a year), got '\(value)'"),
                "\(run.errors)")
        }

        /// An IPv6 address in brackets is bound (libzmq needs ZMQ_IPV6 for it) and printed.
        @Test(arguments: [
            ["broker", "--clients", "tcp://[::1]:0"],
            ["servant", "--bind", "tcp://[::1]:0"],
        ])
        func anIPv6EndpointIsBound(arguments: [String]) async throws {
            let process = try await MServeProcess(arguments[0], arguments)
            defer { process.stop() }
            #expect(process.endpoint.hasPrefix("tcp://[::1]:"), "\(process.endpoint)")
        }

        /// `[::]`, every IPv6 interface, is bound too.
        @Test func everyIPv6InterfaceIsBound() async throws {
            let process = try await MServeProcess("broker", ["broker", "--clients", "tcp://[::]:0", "--status-every", "0"])
            defer { process.stop() }
            #expect(process.endpoint.hasPrefix("tcp://"), "\(process.endpoint)")
        }

        /// Where a process connects, a host for every interface is refused as `*` is, `[::]`
        /// and `0.0.0.0` included; and a q servant, reached over IPv4, has no IPv6 host: a
        /// broker given one started and retried a lookup of `[::1]` every second for ever.
        @Test(arguments: [
            (["broker", "--servant", "tcp://[::]:5555"], "--servant 'tcp://[::]:5555' is not a servant endpoint"),
            (["broker", "--servant", "tcp://0.0.0.0:5555"], "--servant 'tcp://0.0.0.0:5555' is not a servant endpoint"),
            (["send", "--broker", "tcp://[::]:5570", "1+1"], "--broker 'tcp://[::]:5570' is not a broker's client endpoint"),
            (["broker", "--servant", "kdb://[::1]:5001"], "--servant 'kdb://[::1]:5001' is not a servant endpoint"),
            (["hub", "register", "kdb://[::1]:5001", "--hub", "tcp://127.0.0.1:1"], "a q servant is reached over IPv4"),
            (["servant", "--advertise", "[::]"], "--advertise [::] names every interface"),
        ] as [([String], String)])
        func connectEndpointsNameAHostAndQServantsAnIPv4One(arguments: [String], message: String) async throws {
            let run = try await CommandRun.mserve(arguments, timeout: 60)
            #expect(run.status == 64, "\(run.errors)")
            #expect(run.errors.contains(message), "\(run.errors)")
            #expect(run.output.isEmpty, "\(run.output)")
            // Refused before anything is loaded or started, as every usage error is.
            #expect(!run.errors.contains("loaded servant plugin"), "\(run.errors)")
        }

        /// An IPv6 `--advertise` is bound as it is, as an IPv4 address is.
        @Test func anIPv6AdvertisedHostIsBound() async throws {
            let process = try await MServeProcess("servant", ["servant", "--advertise", "[::1]"])
            defer { process.stop() }
            #expect(process.endpoint.hasPrefix("tcp://[::1]:"), "\(process.endpoint)")
        }

        /// A host in brackets must be an IPv6 address, wherever an endpoint or host is given: a
        /// malformed one is a usage error naming the flag or variable and the value, where libzmq
        /// took it and the process failed only when it bound or connected.
        @Test(arguments: [
            (["broker", "--servant", "tcp://[zz]:5555"], [:], "--servant 'tcp://[zz]:5555' is not a servant endpoint"),
            (["broker"], ["MSERVE_SERVANTS": "tcp://[::1:5555"], "MSERVE_SERVANTS 'tcp://[::1:5555' is not a servant endpoint"),
            (["broker", "--servant", "kdb://[1.2.3.4]:5001"], [:], "--servant 'kdb://[1.2.3.4]:5001' is not a servant endpoint"),
            (["broker", "--clients", "tcp://[zz]:0"], [:], "--clients 'tcp://[zz]:0' is not an endpoint to bind"),
            (["broker"], ["MSERVE_BROKER": "tcp://[]:0"], "MSERVE_BROKER 'tcp://[]:0' is not an endpoint to bind"),
            (["servant", "--bind", "tcp://[::g]:0"], [:], "--bind 'tcp://[::g]:0' is not an endpoint to bind"),
            (["hub", "--bind", "tcp://[zz]:0"], [:], "--bind 'tcp://[zz]:0' is not an endpoint to bind"),
            (["hub"], ["MSERVE_HUB": "tcp://[zz]:0"], "MSERVE_HUB 'tcp://[zz]:0' is not an endpoint to bind"),
            (["broker", "--hub", "tcp://[zz]:5560"], [:], "--hub 'tcp://[zz]:5560' is not a hub"),
            (["servant", "--hub-endpoint", "tcp://[zz]:5560", "--hub", "auto"], [:], "--hub-endpoint 'tcp://[zz]:5560' is not a hub endpoint"),
            (["hub", "spokes", "--hub", "tcp://[zz]:5560"], [:], "--hub 'tcp://[zz]:5560' is not a hub endpoint"),
            (["send", "--broker", "tcp://[zz]:5570", "1+1"], [:], "--broker 'tcp://[zz]:5570' is not a broker's client endpoint"),
            (["send", "1+1"], ["MSERVE_BROKER": "tcp://[zz]:5570"], "MSERVE_BROKER 'tcp://[zz]:5570' is not a broker's client endpoint"),
            (["servant", "--advertise", "[zz:1]", "--bind", "tcp://127.0.0.1:0"], [:], "--advertise '[zz:1]' is not a host"),
            (["broker", "--http", "[zz]:0"], [:], "--http: '[zz]:0' is not HOST:PORT or PORT"),
            (["hub", "register", "kdb://[zz]:5001", "--hub", "tcp://127.0.0.1:1"], [:], "not kdb://[zz]:5001"),
        ] as [([String], [String: String], String)])
        func aBracketedHostThatIsNoIPv6AddressIsRefused(
            arguments: [String], environment: [String: String], message: String
        ) async throws {
            let run = try await CommandRun.mserve(arguments, environment: environment, timeout: 60)
            #expect(run.status == 64, "\(run.errors)")
            #expect(run.errors.contains(message), "\(run.errors)")
            #expect(run.output.isEmpty, "nothing bound, nothing announced: \(run.output)")
        }

        /// `--status-every` takes any zero as "no status lines", as its help says.
        @Test(arguments: [
            ["broker", "--clients", "tcp://127.0.0.1:0", "--status-every", "0.0"],
            ["broker", "--clients", "tcp://127.0.0.1:0", "--status-every", "00"],
            ["servant", "--bind", "tcp://127.0.0.1:0", "--status-every", "0.000"],
        ])
        func anyZeroStatusIntervalMeansNone(arguments: [String]) async throws {
            let process = try await MServeProcess(arguments[0], arguments)
            defer { process.stop() }
            #expect(process.endpoint.hasPrefix("tcp://127.0.0.1:"), "\(process.endpoint)")
        }

        /// Other numbers out of range are usage errors that say what is allowed.
        @Test(arguments: [
            (["broker", "--redispatch=-1"], "--redispatch must not be negative"),
            (["broker", "--kdb-port", "5999", "--kdb-max-message", "3"], "--kdb-max-message must be at least 9 bytes"),
            (["broker", "--max-message", "3"], "--max-message must be a number of bytes, at least 9"),
            (["servant", "--threads", "0"], "--threads must be from 1 to 1024"),
            // An option given twice keeps its last value (docs/OPERATIONS.md).
            (["servant", "--threads", "2", "--threads", "0"], "--threads must be from 1 to 1024"),
            (["send", "--broker", "tcp://127.0.0.1:1", "--broker", "tcp://[zz]:1", "1"], "--broker 'tcp://[zz]:1' is not"),
            (["broker", "--servant", "bogus"], "--servant 'bogus' is not a servant endpoint: tcp://HOST:PORT"),
            (["broker", "--servant", "tcp://host:99999"], "'tcp://host:99999' is not a servant endpoint"),
            (["broker", "--servant", "tcp://:5000"], "'tcp://:5000' is not a servant endpoint"),
            (["broker", "--servant", "tcp://*:5000"], "--servant 'tcp://*:5000' is not a servant endpoint"),
            (["broker", "--servant", "inproc://servant"], "--servant 'inproc://servant' is not a servant endpoint"),
            (["broker", "--clients", "inproc://broker"], "--clients 'inproc://broker' is not an endpoint to bind"),
            (["servant", "--bind", "inproc://servant"], "--bind 'inproc://servant' is not an endpoint to bind"),
            (["hub", "--bind", "inproc://hub"], "--bind 'inproc://hub' is not an endpoint to bind"),
            (["broker", "--kdb-port", "[::1]:0"], "--kdb-port: the kdb+ door listens on IPv4 only"),
            // What --advertise gives is printed and registered as it is: it must be a host.
            (["servant", "--advertise", "", "--bind", "tcp://127.0.0.1:0"], "--advertise was given an empty value ''"),
            (["servant", "--advertise", " ", "--bind", "tcp://127.0.0.1:0"], "--advertise was given a blank value ' '"),
            (["servant", "--advertise", "a b/x", "--bind", "tcp://127.0.0.1:0"], "--advertise 'a b/x' is not a host"),
            (["servant", "--advertise", "host:5001"], "--advertise 'host:5001' is not a host"),
            (["servant", "--advertise", ""], "--advertise was given an empty value ''"),
            (["broker", "--log-level", "loud"], "--log-level 'loud' is not a log level: trace, debug, info"),
            (["broker", "--algorithm", "nope"], "--algorithm: unknown dispatch algorithm \"nope\"; available: "),
            (["broker", "--routing", "arg:0"], "--routing: routing spec error at column 1: 'arg:0': the argument position"),
            (["broker", "--kdb-port", "abc"], "--kdb-port: the kdb+ port must be PORT or HOST:PORT, PORT from 0 to 65535, got abc"),
            (["broker", "--kdb-port", "127.0.0.1:0", "--users", "/nonexistent/users"],
             "--users: cannot read the users file /nonexistent/users"),
            (["broker", "--allow", ""], "--allow was given an empty value ''; give one, or leave --allow out"),
            (["broker", "--allow", " , "], "--allow ' , ' names no function"),
            (["broker", "--hub", "garbage"], "--hub 'garbage' is not a hub: an endpoint such as tcp://127.0.0.1:5560"),
            (["servant", "--hub", "tcp://127.0.0.1:99999"], "--hub 'tcp://127.0.0.1:99999' is not a hub"),
            // The hub names servants by host and port: a path cannot be registered.
            (["servant", "--bind", "ipc:///tmp/mserve-no-such.sock", "--hub", "tcp://127.0.0.1:1"],
             "--bind ipc:///tmp/mserve-no-such.sock cannot be registered with the hub"),
            // A value that starts with '-' is the option's value, not a missing one.
            (["broker", "--servant-auth", "-user:pw", "--http", "-1"], "--http: '-1' is not HOST:PORT or PORT"),
            (["servant", "--advertise", "-x"], "--advertise -x: cannot look up its IPv4 address"),
        ])
        func numbersOutOfRangeAreRefusedWithTheRange(arguments: [String], message: String) async throws {
            let run = try await CommandRun.mserve(arguments, timeout: 60)
            #expect(run.status == 64, "\(run.errors)")
            #expect(run.errors.contains(message), "\(run.errors)")
        }

        /// A users file other users may read (the umask's usual 0644) is refused at start,
        /// saying how to fix it: its passwords are secrets, as a secret key is.
        @Test func aUsersFileOthersMayReadIsRefused() async throws {
            let users = NSTemporaryDirectory() + "mserve-users-\(UUID().uuidString)"
            #expect(
                FileManager.default.createFile(
                    atPath: users, contents: Data("alice:wonderland\n".utf8), attributes: [.posixPermissions: 0o644]))
            defer { try? FileManager.default.removeItem(atPath: users) }
            let run = try await CommandRun.mserve(
                ["broker", "--clients", "tcp://127.0.0.1:0", "--kdb-port", "127.0.0.1:0", "--users", users], timeout: 60)
            #expect(run.status == 64, "\(run.errors)")
            #expect(run.errors.contains("--users: the users file \(users) has mode 0644"), "\(run.errors)")
            #expect(run.errors.contains("run chmod 600 \(users)"), "\(run.errors)")
        }

        /// A users file another user owns, or in a directory others may write, is refused at start
        /// as a plugin file is: its owner, or whoever may put a file in its place, could add a
        /// kdb+ user. Nothing is bound or announced.
        @Test func aUsersFileOthersCouldChangeOrReplaceIsRefused() async throws {
            try await withTemporaryDirectory("mserve-users") { directory in
                let users = directory + "/users"
                #expect(
                    FileManager.default.createFile(
                        atPath: users, contents: Data("alice:wonderland\n".utf8), attributes: [.posixPermissions: 0o600]))
                let arguments = ["broker", "--clients", "tcp://127.0.0.1:0", "--kdb-port", "127.0.0.1:0", "--users", users]
                #expect(chmod(directory, 0o777) == 0)
                let writable = try await CommandRun.mserve(arguments, timeout: 60)
                #expect(writable.status == 64, "\(writable.errors)")
                #expect(
                    writable.errors.contains(
                        "Error: --users: the directory \(directory) of the users file \(users) has mode 0777"),
                    "\(writable.errors)")
                #expect(writable.errors.contains("run chmod go-w \(directory)"), "\(writable.errors)")
                #expect(writable.output.isEmpty, "nothing bound, nothing announced: \(writable.output)")
                #expect(chmod(directory, 0o700) == 0)
                if geteuid() == 0 {
                    #expect(chown(users, 65_534, 65_534) == 0)
                    let theirs = try await CommandRun.mserve(arguments, timeout: 60)
                    #expect(theirs.status == 64, "\(theirs.errors)")
                    #expect(
                        theirs.errors.contains("Error: --users: the users file \(users) belongs to uid 65534"),
                        "\(theirs.errors)")
                    #expect(chown(users, 0, 0) == 0)
                }
            }
        }

        /// A negative number after a numeric option is its value, refused with the option's
        /// range, not taken for an option (which left the option "missing a value").
        @Test(arguments: [
            (["broker", "--queue-capacity", "-1"], "--queue-capacity must not be negative"),
            (["broker", "--redispatch", "-1"], "--redispatch must not be negative"),
            (["broker", "--look-ahead", "-1"], "--look-ahead must be at least 1"),
            (["broker", "--servant-batch", "-1"], "--servant-batch must be from 1 to 65536"),
            (["broker", "--deadline", "-1"], "--deadline expects a number of seconds"),
            (["broker", "--heartbeat", "-1"], "--heartbeat expects a number of seconds"),
            (
                ["broker", "--heartbeat", "30"],
                "--heartbeat expects a number of seconds from 0.001 to 20, got '30': a servant forgets the session of a broker it hears nothing from for a minute"
            ),
            (["broker", "--heartbeat", "inf"], "--heartbeat expects a number of seconds from 0.001 to 20, got 'inf'"),
            (["broker", "--heartbeat", "0"], "--heartbeat expects a number of seconds from 0.001 to 20, got '0'"),
            (["broker", "--liveness", "-1"], "--liveness expects a number of seconds"),
            (["broker", "--status-every", "-1"], "--status-every expects 0 (none) or a number of seconds"),
            (["broker", "--kdb-port", "127.0.0.1:0", "--kdb-max-message", "-1"], "--kdb-max-message must be at least 9 bytes"),
            (["broker", "--max-message", "-1"], "--max-message must be a number of bytes, at least 9 (an IPC header and a byte), got -1"),
            (["broker", "--kdb-port", "127.0.0.1:0", "--kdb-reply-buffer", "-1"], "--kdb-reply-buffer must be positive, got -1"),
            (["broker", "--client-reply-buffer", "-1"], "--client-reply-buffer must be a positive number of bytes, got -1"),
            (["broker", "--kdb-port", "127.0.0.1:0", "--kdb-max-connections", "-1"], "--kdb-max-connections must be at least 1, got -1"),
            (["broker", "--kdb-port", "127.0.0.1:0", "--kdb-max-per-address", "-1"], "--kdb-max-per-address must be at least 1, got -1"),
            (["broker", "--kdb-port", "127.0.0.1:0", "--kdb-idle-timeout", "-1"], "--kdb-idle-timeout expects 0 (none) or a number of seconds"),
            (["broker", "--kdb-port", "-1"], "--kdb-port: the kdb+ port must be PORT or HOST:PORT, PORT from 0 to 65535, got -1"),
            (["servant", "--threads", "-1"], "--threads must be from 1 to 1024"),
            (["servant", "-s", "-2"], "--threads must be from 1 to 1024"),
            (["servant", "--capacity", "-1"], "--capacity must be from 1 to 65536"),
            (["servant", "--batch", "-1"], "--batch must be from 1 to 65536"),
            (["servant", "--status-every", "-1"], "--status-every expects 0 (none) or a number of seconds"),
            (["send", "--deadline", "-1", "echo 1"], "--deadline expects a number of seconds"),
            (["send", "--connect-timeout", "-1", "echo 1"], "--connect-timeout expects a number of seconds"),
            (["hub", "--liveness", "-1"], "--liveness expects a number of seconds"),
            (["hub", "spokes", "--timeout", "-1"], "--timeout expects a number of seconds"),
            (["hub", "register", "kdb://127.0.0.1:5001", "--heartbeat", "-1"], "--heartbeat expects a number of seconds"),
            (["demo", "--servants", "-1"], "--servants must be from 1 to 16"),
        ])
        func aNegativeNumberIsRefusedWithTheRange(arguments: [String], message: String) async throws {
            let run = try await CommandRun.mserve(arguments, timeout: 60)
            #expect(run.status == 64, "\(run.errors)")
            #expect(run.errors.hasPrefix("Error: \(message)"), "\(run.errors)")
            #expect(run.output.isEmpty, "nothing bound, nothing announced: \(run.output)")
        }

        /// A bad MSERVE_* value is refused like the flag it stands for, before anything is bound
        /// or announced.
        @Test(arguments: [
            (["broker", "--clients", "tcp://127.0.0.1:0"], "MSERVE_LOG_LEVEL", "loud", "MSERVE_LOG_LEVEL 'loud' is not a log level"),
            (["servant", "--bind", "tcp://127.0.0.1:0"], "MSERVE_HUB", "garbage", "MSERVE_HUB 'garbage' is not a hub"),
            (["broker", "--clients", "tcp://127.0.0.1:0"], "MSERVE_HUB", "kdb://127.0.0.1:5001", "is not a hub"),
            (["broker", "--clients", "tcp://127.0.0.1:0"], "MSERVE_ALGO", "nope", "MSERVE_ALGO: unknown dispatch algorithm \"nope\""),
            (["broker", "--clients", "tcp://127.0.0.1:0"], "MSERVE_SERVANTS", "foo", "MSERVE_SERVANTS 'foo' is not a servant endpoint"),
            (["broker", "--clients", "tcp://127.0.0.1:0"], "MSERVE_SERVANTS", "tcp://*:5000", "MSERVE_SERVANTS 'tcp://*:5000' is not a servant endpoint"),
            (["broker", "--clients", "tcp://127.0.0.1:0"], "MSERVE_KDB_PORT", "abc", "MSERVE_KDB_PORT: the kdb+ port must be"),
            (["broker", "--clients", "tcp://127.0.0.1:0"], "MSERVE_HTTP", "abc", "MSERVE_HTTP: 'abc' is not HOST:PORT or PORT"),
            (["broker", "--clients", "tcp://127.0.0.1:0"], "MSERVE_ROUTING", "arg:0", "MSERVE_ROUTING: routing spec error at column 1: 'arg:0'"),
            (["broker", "--clients", "tcp://127.0.0.1:0"], "MSERVE_ROUTING", "plugin:nope", "MSERVE_ROUTING plugin:nope: no loaded plugin"),
            // Not a process id, or 1 (init, which no process outlives): ignored, the process
            // would run on once its parent is gone.
            (["broker", "--clients", "tcp://127.0.0.1:0"], "MSERVE_STOP_WITH_PARENT", "abc",
             "MSERVE_STOP_WITH_PARENT must be the process id of this process's parent, from 2 to 2147483647 "
                + "(1 is init, which no process outlives), got 'abc'"),
            (["servant", "--bind", "tcp://127.0.0.1:0"], "MSERVE_STOP_WITH_PARENT", "-1", "got '-1'"),
            (["broker", "--clients", "tcp://127.0.0.1:0"], "MSERVE_STOP_WITH_PARENT", "0", "got '0'"),
            (["servant", "--bind", "tcp://127.0.0.1:0"], "MSERVE_STOP_WITH_PARENT", "1", "got '1'"),
            (["broker", "--clients", "tcp://127.0.0.1:0"], "MSERVE_STOP_WITH_PARENT", "99999999999999999999",
             "got '99999999999999999999'"),
            (["broker", "--clients", "tcp://127.0.0.1:0"], "MSERVE_STOP_WITH_PARENT", "12 34", "got '12 34'"),
        ])
        func aBadEnvironmentValueIsRefusedBeforeAnythingIsBound(
            arguments: [String], variable: String, value: String, message: String
        ) async throws {
            let run = try await CommandRun.mserve(arguments, environment: [variable: value], timeout: 60)
            #expect(run.status == 64, "\(run.errors)")
            #expect(run.errors.contains(message), "\(run.errors)")
            #expect(run.output.isEmpty, "nothing bound, nothing announced: \(run.output)")
        }

        /// An option or argument given an empty or blank value is a usage error naming it, the
        /// same for every option: taken as given, some such values meant the option's default
        /// (`--routing ' '`, `--http ''`), others a name no one has (`hub resolve ''`).
        @Test(arguments: [
            (["broker", "--clients", "tcp://127.0.0.1:0", "--routing", ""], "Error: --routing was given an empty value ''"),
            (["broker", "--clients", "tcp://127.0.0.1:0", "--routing", " "], "Error: --routing was given a blank value ' '"),
            (["broker", "--clients", "tcp://127.0.0.1:0", "--http", ""], "Error: --http was given an empty value ''"),
            (["broker", "--clients", "tcp://127.0.0.1:0", "--http="], "Error: --http was given an empty value ''"),
            (["broker", "--clients", "tcp://127.0.0.1:0", "--http= "], "Error: --http was given a blank value ' '"),
            (["broker", "--clients", "tcp://127.0.0.1:0", "--servant-auth", " "], "Error: --servant-auth was given a blank value"),
            (["servant", "--bind", "tcp://127.0.0.1:0", "--name", ""], "Error: --name was given an empty value"),
            (["hub", "register", "kdb://127.0.0.1:1", "--hub", "tcp://127.0.0.1:1", "--name", "\t"], "Error: --name was given a blank value"),
            (["hub", "resolve", "", "--hub", "tcp://127.0.0.1:1", "--timeout", "1"], "Error: the service argument is empty ('')"),
            (["hub", "resolve", "--hub", "tcp://127.0.0.1:1", "--timeout", "1", " "], "Error: the service argument is blank (' ')"),
            // Every command with positional arguments names the one left empty, counting past
            // options' values and flags.
            (["send", ""], "Error: the query argument is empty ('')"),
            (["send", "--quiet", "--broker", "tcp://127.0.0.1:1", "1+1", ""], "Error: the query argument is empty ('')"),
            (["send", "--", ""], "Error: the query argument is empty ('')"),
            (["demo", ""], "Error: the queries argument is empty ('')"),
            (["keys", "new", ""], "Error: the name argument is empty ('')"),
            (["hub", "allow", "servant", ""], "Error: the key-file argument is empty ('')"),
            (["hub", "allow", "--role", "servant", "", "servant.pub"], "Error: the name argument is empty ('')"),
            (["hub", "revoke", "\t"], "Error: the name argument is blank ('\t')"),
            (["hub", "user", "add", "", "--password", "x"], "Error: the name argument is empty ('')"),
            (["hub", "user", "remove", ""], "Error: the name argument is empty ('')"),
            (["hub", "register", ""], "Error: the endpoint argument is empty ('')"),
            // A command that takes no argument has none to name.
            (["broker", ""], "Error: an argument is empty ('')"),
        ])
        func anEmptyOrBlankValueIsAUsageErrorNamingTheOption(arguments: [String], message: String) async throws {
            let run = try await CommandRun.mserve(arguments, timeout: 20)
            #expect(run.status == 64, "\(run.errors)")
            #expect(run.errors.hasPrefix(message), "\(run.errors)")
            #expect(run.output.isEmpty, "nothing bound, nothing announced: \(run.output)")
        }

        /// A liveness no longer than the heartbeat declares a live servant dead between two
        /// heartbeats: the broker still starts, but says so once, naming both flags.
        @Test(arguments: [["--heartbeat", "2", "--liveness", "1"], ["--heartbeat", "1", "--liveness", "1"]])
        func aLivenessNotLongerThanTheHeartbeatIsWarnedOf(timings: [String]) async throws {
            let broker = try await MServeProcess(
                "broker", ["broker", "--clients", "tcp://127.0.0.1:0", "--status-every", "0"] + timings)
            defer { broker.stop() }
            let warned = await eventually(timeout: .seconds(10)) {
                broker.logs.contains("warning") && broker.logs.contains("--liveness is not longer than --heartbeat")
            }
            #expect(warned, "\(broker.logs)")
        }

        /// The default timings, a liveness of four heartbeats, give no such warning.
        @Test func theDefaultLivenessIsNotWarnedOf() async throws {
            let broker = try await MServeProcess("broker", ["broker", "--clients", "tcp://127.0.0.1:0", "--status-every", "0"])
            defer { broker.stop() }
            #expect(!broker.logs.contains("--liveness"), "\(broker.logs)")
        }

        /// A servant given a `--capacity` below its `--threads` starts, but says at once that
        /// a broker never keeps the extra threads busy, and what to change.
        @Test func aCapacityBelowTheThreadCountIsWarnedOf() async throws {
            let servant = try await MServeProcess(
                "servant", ["servant", "--bind", "tcp://127.0.0.1:0", "--threads", "4", "--capacity", "2"])
            defer { servant.stop() }
            let warned = await eventually(timeout: .seconds(10)) {
                servant.logs.contains("warning")
                    && servant.logs.contains(
                        "--capacity 2 is below --threads 4: a broker sends this servant at most 2 queries at a time, so "
                            + "unless several brokers (or, with --direct, direct clients) share it, 2 of its threads never run one; "
                            + "give --threads 2, or leave "
                            + "--capacity out (it is the thread count by default)")
            }
            #expect(warned, "\(servant.logs)")
        }

        /// A capacity at or above the thread count, the usual way to keep queries queued at the
        /// servant, gives no such warning.
        @Test(arguments: [["--threads", "2", "--capacity", "2"], ["--threads", "2", "--capacity", "8"], ["--threads", "4"]])
        func aCapacityNotBelowTheThreadCountIsNotWarnedOf(options: [String]) async throws {
            let servant = try await MServeProcess("servant", ["servant", "--bind", "tcp://127.0.0.1:0"] + options)
            #expect(await servant.stop() == 0)
            #expect(await eventually(timeout: .seconds(10)) { servant.logs.contains("servant stopped") }, "\(servant.logs)")
            #expect(!servant.logs.contains("--capacity"), "\(servant.logs)")
        }

        /// A variable set to spaces or tabs counts as unset, as an empty one does, whichever
        /// variable it is: the broker starts with its defaults. Taken as given, `MSERVE_ALGO=' '`
        /// and `MSERVE_HTTP=' '` stopped it while `MSERVE_ROUTING=' '` meant the default.
        @Test func aBlankVariableCountsAsUnset() async throws {
            let blank = [
                "MSERVE_ALGO", "MSERVE_ROUTING", "MSERVE_HTTP", "MSERVE_KDB_PORT", "MSERVE_SERVANTS", "MSERVE_MAX_MESSAGE",
                "MSERVE_STOP_WITH_PARENT",
            ]
            let broker = try await MServeProcess(
                "broker", ["broker", "--clients", "tcp://127.0.0.1:0", "--status-every", "0"],
                environment: Dictionary(uniqueKeysWithValues: blank.map { ($0, " \t") }))
            defer { broker.stop() }
            #expect(broker.endpoint.hasPrefix("tcp://127.0.0.1:"), "\(broker.endpoint)")
            let status = try await CommandRun.mserve(["send", "--broker", broker.endpoint, ".mserve.status[]"])
            #expect(status.status == 0, "\(status.errors)")
            #expect(status.output.contains("`match"), "\(status.output)")
            #expect(status.output.contains("`arg:1"), "\(status.output)")
        }

        /// `MSERVE_STOP_WITH_PARENT` naming a process that is not the process's parent (here the
        /// test's own parent, not the servant's) stops it at once, as SIGTERM stops it: the
        /// parent it was to stop with is gone already.
        @Test func aProcessWhoseParentIsNotTheOneNamedStopsAtOnce() async throws {
            let run = try await CommandRun.mserve(
                ["servant", "--bind", "tcp://127.0.0.1:0"], environment: ["MSERVE_STOP_WITH_PARENT": "\(getppid())"],
                timeout: 60)
            #expect(run.status == 0, "\(run.errors)")
            #expect(run.errors.contains("servant stopped"), "\(run.errors)")
        }

        /// `MSERVE_STOP_WITH_PARENT` naming the process's real parent, killed with `kill -9`
        /// (nothing it could do first): the broker, the hub and the servant each stop by
        /// themselves, as SIGTERM stops them (their last line says they stopped), and end.
        @Test(arguments: [
            (["broker", "--clients", "tcp://127.0.0.1:0", "--status-every", "0"], "broker stopped"),
            (["hub", "serve", "--bind", "tcp://127.0.0.1:0", "--dir", "DIR/hub"], "hub stopped"),
            (["servant", "--bind", "tcp://127.0.0.1:0"], "servant stopped"),
        ])
        func aProcessStopsOnceItsParentIsKilled(arguments: [String], stopped: String) async throws {
            try await withTemporaryDirectory("mserve-stop-with-parent") { directory in
                let log = directory + "/stderr"
                // The shell starts mserve naming itself, reports its pid, and waits as `sleep`.
                let script = "MSERVE_STOP_WITH_PARENT=$$ \"$0\" \"$@\" >\"$DIR/stdout\" 2>\"$DIR/stderr\" & echo $!; exec sleep 600"
                let parent = try SpawnedProcess(
                    executable: URL(fileURLWithPath: "/bin/sh"),
                    arguments: ["-c", script, MServeProcess.executable.path]
                        + arguments.map { $0.replacingOccurrences(of: "DIR", with: directory) },
                    environment: ProcessInfo.processInfo.environment.merging(["DIR": directory]) { $1 })
                defer { parent.kill() }
                let output = ByteCollector()
                output.collect(from: parent.standardOutput)
                ByteCollector().collect(from: parent.standardError)
                let reported = await eventually(timeout: .seconds(30)) {
                    String(decoding: output.bytes, as: UTF8.self).hasSuffix("\n")
                }
                let pid = try #require(
                    reported ? pid_t(String(decoding: output.bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) : nil,
                    "\(String(decoding: output.bytes, as: UTF8.self))")
                defer { if Self.hasNotEnded(pid) { kill(pid, SIGKILL) } }
                // Started in full: it announced its endpoint.
                let started = await eventually(timeout: .seconds(60)) {
                    (try? String(contentsOfFile: directory + "/stdout", encoding: .utf8))?.contains("tcp://") == true
                }
                #expect(started, "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")

                parent.kill()
                await parent.waitUntilExit()
                let ended = await eventually(timeout: .seconds(30)) { !Self.hasNotEnded(pid) }
                let errors = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                #expect(ended, "\(errors)")
                #expect(errors.contains(stopped), "\(errors)")
            }
        }

        /// Whether process `pid` still runs: it exists and is no zombie. A process whose parent
        /// ended is reaped by init (or a subreaper) when that gets to it, which may be a second
        /// or more later: until then `kill -0` still finds it, though it has ended.
        static func hasNotEnded(_ pid: pid_t) -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let afterName = stat.range(of: ") ", options: .backwards)
            else { return false }
            return stat[afterName.upperBound...].first != "Z"
        }

        /// A kdb+ door setting without a door port would do nothing: it is a usage error that
        /// names the setting, from a flag or from the environment.
        @Test(arguments: [
            (["--users", "hub"], [:], "--users needs --kdb-port (or MSERVE_KDB_PORT)"),
            ([], ["MSERVE_USERS": "/etc/mserve/users"], "MSERVE_USERS needs --kdb-port (or MSERVE_KDB_PORT)"),
            (["--kdb-max-message", "1000"], [:], "--kdb-max-message needs --kdb-port (or MSERVE_KDB_PORT)"),
            (["--kdb-reply-buffer", "1000"], [:], "--kdb-reply-buffer needs --kdb-port (or MSERVE_KDB_PORT)"),
            (["--kdb-max-connections", "3"], [:], "--kdb-max-connections needs --kdb-port (or MSERVE_KDB_PORT)"),
            (["--kdb-max-per-address", "3"], [:], "--kdb-max-per-address needs --kdb-port (or MSERVE_KDB_PORT)"),
            (["--kdb-idle-timeout", "60"], [:], "--kdb-idle-timeout needs --kdb-port (or MSERVE_KDB_PORT)"),
        ] as [([String], [String: String], String)])
        func aKdbDoorSettingWithoutAPortIsRefused(
            arguments: [String], environment: [String: String], message: String
        ) async throws {
            let run = try await CommandRun.mserve(
                ["broker", "--clients", "tcp://127.0.0.1:0"] + arguments, environment: environment, timeout: 60)
            #expect(run.status == 64, "\(run.errors)")
            #expect(run.errors.hasPrefix("Error: \(message): without a port there is no kdb+ door"), "\(run.errors)")
            #expect(run.output.isEmpty, "nothing bound, nothing announced: \(run.output)")
        }

        /// A secured broker takes its servants from the hub, with their keys: an endpoint given
        /// to it has no key to pin, so it is a usage error at start, named as it was given.
        @Test(arguments: [
            (["--servant", "tcp://127.0.0.1:5999", "--keys", "/nonexistent/keys"], [:], "--servant cannot be used with --keys"),
            ([], ["MSERVE_SERVANTS": "tcp://127.0.0.1:5999", "MSERVE_KEYS": "/nonexistent/keys"],
             "MSERVE_SERVANTS cannot be used with MSERVE_KEYS"),
        ] as [([String], [String: String], String)])
        func aSecuredBrokerRefusesGivenServants(
            arguments: [String], environment: [String: String], message: String
        ) async throws {
            let run = try await CommandRun.mserve(
                ["broker", "--clients", "tcp://127.0.0.1:0", "--hub", "tcp://127.0.0.1:5998"] + arguments,
                environment: environment, timeout: 60)
            #expect(run.status == 64, "\(run.errors)")
            #expect(
                run.errors.hasPrefix("Error: \(message): a secured broker takes its servants, with their keys, from the hub"),
                "\(run.errors)")
            #expect(run.output.isEmpty, "\(run.output)")
        }

        /// A q servant given to a secured broker is refused as well, and the message says a q
        /// servant cannot be had from the hub either.
        @Test func aSecuredBrokerRefusesAQServantAndSaysWhy() async throws {
            let run = try await CommandRun.mserve(
                [
                    "broker", "--clients", "tcp://127.0.0.1:0", "--hub", "tcp://127.0.0.1:5998", "--servant",
                    "kdb://127.0.0.1:5999", "--keys", "/nonexistent/keys",
                ], timeout: 60)
            #expect(run.status == 64, "\(run.errors)")
            #expect(
                run.errors.contains("it takes no q servants (kdb://) at all: a kdb+ connection cannot prove a CURVE key"),
                "\(run.errors)")
        }

        /// Spokes heartbeat the hub every second: a hub liveness under two seconds would move
        /// them to down for one late heartbeat, and is refused; so is a sidecar's bad hub.
        @Test(arguments: [
            (["hub", "--bind", "tcp://127.0.0.1:0", "--liveness", "0.2"], [:], "--liveness must be at least 2 seconds, got '0.2': spokes heartbeat the hub every second"),
            (["hub", "--bind", "tcp://127.0.0.1:0", "--liveness", "1.9"], [:], "--liveness must be at least 2 seconds, got '1.9'"),
            (["hub", "register", "kdb://127.0.0.1:5001", "--hub", "garbage"], [:],
             "--hub 'garbage' is not a hub endpoint, such as tcp://127.0.0.1:5560"),
            (["hub", "register", "kdb://127.0.0.1:5001"], ["MSERVE_HUB": "kdb://127.0.0.1:5002"],
             "MSERVE_HUB 'kdb://127.0.0.1:5002' is not a hub endpoint"),
            (["hub", "register", "kdb://127.0.0.1:5001", "--heartbeat", "0"], [:], "--heartbeat expects a number of seconds"),
        ] as [([String], [String: String], String)])
        func hubTimingsThatWouldFlapAndBadHubsAreRefused(
            arguments: [String], environment: [String: String], message: String
        ) async throws {
            try await withTemporaryDirectory("mserve-hub") { directory in
                let run = try await CommandRun.mserve(
                    arguments, environment: ["MSERVE_HUB_DIR": directory].merging(environment) { $1 }, timeout: 60)
                #expect(run.status == 64, "\(run.errors)")
                #expect(run.errors.hasPrefix("Error: \(message)"), "\(run.errors)")
                #expect(run.output.isEmpty, "nothing bound, nothing announced: \(run.output)")
            }
        }

        /// A sidecar that checks its q process less often than the hub's liveness still
        /// heartbeats the hub every second: the q process stays a live servant.
        @Test func aSlowSidecarProbeDoesNotMakeTheHubDropItsServant() async throws {
            try await withTemporaryDirectory("mserve-hub") { directory in
                let hub = try await MServeProcess("hub", ["hub", "--bind", "tcp://127.0.0.1:0", "--dir", directory])
                defer { hub.stop() }
                let q = try TCPSocket.listen(host: "127.0.0.1", port: 0)
                defer { TCPSocket.close(q.descriptor) }
                let sidecar = try await MServeProcess(
                    "sidecar", ["hub", "register", "kdb://127.0.0.1:\(q.port)", "--hub", hub.endpoint, "--heartbeat", "10"])
                defer { sidecar.stop() }
                let endpoint = "kdb://127.0.0.1:\(q.port)"
                #expect(try await eventually {
                    try await CommandRun.mserve(["hub", "resolve", "default", "--hub", hub.endpoint]).output.hasPrefix(endpoint)
                })
                // Past the hub's 3 s liveness, well before the next probe.
                try await Task.sleep(for: .seconds(5))
                let resolved = try await CommandRun.mserve(["hub", "resolve", "default", "--hub", hub.endpoint])
                #expect(resolved.output.hasPrefix(endpoint + "\t"), "\(resolved.output)\(resolved.errors)")
                let down = try await CommandRun.mserve(["hub", "down", "--hub", hub.endpoint])
                #expect(!down.output.contains("\(q.port)"), "\(down.output)")
            }
        }

        /// A TCP port past 65535 is refused, where libzmq would take it modulo 65536.
        @Test func aPortOutOfRangeIsRefusedNotWrapped() async throws {
            let broker = try await CommandRun.mserve(["broker", "--clients", "tcp://127.0.0.1:70000"], timeout: 60)
            #expect(broker.status == 64)
            #expect(broker.errors.contains("--clients 'tcp://127.0.0.1:70000' is not an endpoint to bind"), "\(broker.errors)")
            #expect(broker.output.isEmpty, "\(broker.output)")
            try await withTemporaryDirectory("mserve-hub-port") { directory in
                let hub = try await CommandRun.mserve(["hub", "--bind", "tcp://127.0.0.1:-1", "--dir", directory], timeout: 60)
                #expect(hub.status == 64)
                #expect(hub.errors.contains("--bind 'tcp://127.0.0.1:-1' is not an endpoint to bind"), "\(hub.errors)")
            }
        }

        /// A service name no command line could name plainly, and a --key-name with no key
        /// directory to find it in, are usage errors, not accepted silently.
        @Test(arguments: [
            (["servant", "--service", ""], "--service was given an empty value ''"),
            (["broker", "--service", "a b"], "--service 'a b' is not a service name"),
            (["send", "--service", "", "echo 1"], "--service was given an empty value ''"),
            (["hub", "register", "kdb://127.0.0.1:5001", "--service", "a b"], "--service 'a b' is not a service name"),
            (["servant", "--key-name", "x"], "--key-name names a key in the key directory: give --keys DIR"),
            (["broker", "--key-name", "x"], "--key-name names a key in the key directory: give --keys DIR"),
        ])
        func namesThatNameNothingAreUsageErrors(arguments: [String], message: String) async throws {
            let run = try await CommandRun.mserve(arguments, environment: ["MSERVE_KEYS": ""], timeout: 60)
            #expect(run.status == 64, "\(run.errors)")
            #expect(run.errors.hasPrefix("Error: \(message)"), "\(run.errors)")
        }

        /// A malformed endpoint is a usage error (status 64) in every command, named by the flag
        /// or variable it came from, before anything is bound or logged.
        @Test(arguments: [
            (["broker", "--clients", "notanendpoint"], [:], "--clients 'notanendpoint' is not an endpoint to bind"),
            (["broker"], ["MSERVE_BROKER": "tcp://nohost"], "MSERVE_BROKER 'tcp://nohost' is not an endpoint to bind"),
            (["servant", "--bind", "bogus"], [:], "--bind 'bogus' is not an endpoint to bind"),
            (["hub", "spokes", "--hub", "bogus"], [:], "--hub 'bogus' is not a hub endpoint"),
            (["hub", "spokes"], ["MSERVE_HUB": "bogus"], "MSERVE_HUB 'bogus' is not a hub endpoint: tcp://HOST:PORT"),
            (["hub", "resolve", "x"], ["MSERVE_HUB": "bogus"], "MSERVE_HUB 'bogus' is not a hub endpoint"),
            (["hub", "keys"], ["MSERVE_HUB": "bogus"], "MSERVE_HUB 'bogus' is not a hub endpoint"),
            (["hub", "revoke", "x"], ["MSERVE_HUB": "bogus"], "MSERVE_HUB 'bogus' is not a hub endpoint"),
            (["hub", "--dir", "/nonexistent/mserve-hub"], ["MSERVE_HUB": "bogus"], "MSERVE_HUB 'bogus' is not an endpoint to bind"),
            (["hub", "--bind", "bogus", "--dir", "/nonexistent/mserve-hub"], [:], "--bind 'bogus' is not an endpoint to bind"),
            (["send", "--service", "dev", "echo 1"], ["MSERVE_HUB": "bogus"], "MSERVE_HUB 'bogus' is not a hub endpoint"),
            (["send", "--service", "dev", "--hub", "bogus", "echo 1"], [:], "--hub 'bogus' is not a hub endpoint"),
        ] as [([String], [String: String], String)])
        func aMalformedEndpointIsAUsageError(arguments: [String], environment: [String: String], message: String) async throws {
            let run = try await CommandRun.mserve(arguments, environment: environment, timeout: 60)
            #expect(run.status == 64, "\(run.errors)")
            #expect(run.errors.hasPrefix("Error: \(message)"), "\(run.errors)")
            #expect(run.output.isEmpty, "\(run.output)")
        }

        /// A key directory from MSERVE_KEYS that cannot be read is named as MSERVE_KEYS, not as
        /// the --keys flag that was not given.
        @Test(arguments: [
            ["broker", "--clients", "tcp://127.0.0.1:0", "--hub", "tcp://127.0.0.1:9"],
            ["servant", "--hub", "tcp://127.0.0.1:9"],
            ["send", "echo 1"],
            ["hub", "spokes"],
            ["hub", "--bind", "tcp://127.0.0.1:0", "--dir", "/nonexistent/mserve-hub"],
        ])
        func keyErrorsNameMSERVE_KEYSWhenItGaveTheDirectory(arguments: [String]) async throws {
            let run = try await CommandRun.mserve(arguments, environment: ["MSERVE_KEYS": "/nonexistent/mserve-keys"], timeout: 60)
            #expect(run.status == 64, "\(run.errors)")
            #expect(run.errors.contains("Error: MSERVE_KEYS: "), "\(run.errors)")
            #expect(run.errors.contains("/nonexistent/mserve-keys/"), "\(run.errors)")
            #expect(run.output.isEmpty, "\(run.output)")
        }

        /// MSERVE_HUB=none keeps brokers and servants out of the hub; the hub's own commands
        /// then use the default endpoint, as with MSERVE_HUB unset.
        @Test func hubCommandsTakeMSERVE_HUBNoneAsTheDefaultEndpoint() async throws {
            let run = try await CommandRun.mserve(
                ["hub", "spokes", "--timeout", "0.2"], environment: ["MSERVE_HUB": "none"], timeout: 60)
            #expect(run.status != 0)
            #expect(run.errors.contains("the hub at tcp://127.0.0.1:5560 did not answer"), "\(run.errors)")
        }

        /// A demo whose process cannot start says why, without --verbose (MSERVE_LOG_LEVEL is
        /// the one setting the demo passes on to its processes).
        @Test func aDemoWhoseProcessCannotStartSaysWhy() async throws {
            let run = try await CommandRun.mserve(["demo"], environment: ["MSERVE_LOG_LEVEL": "loud"], timeout: 30)
            #expect(run.status == 1)
            #expect(
                run.errors.contains("servant 1 exited before it was ready (status 64): MSERVE_LOG_LEVEL 'loud' is not a log level"),
                "\(run.errors)")
        }

        /// The demo checks its algorithm before it starts anything.
        @Test func aDemoRefusesAnUnknownAlgorithmBeforeStarting() async throws {
            let run = try await CommandRun.mserve(["demo", "--algorithm", "nonsense"], timeout: 30)
            #expect(run.status == 64)
            #expect(run.errors.hasPrefix("Error: --algorithm: unknown dispatch algorithm \"nonsense\"; available: "), "\(run.errors)")
            #expect(run.output.isEmpty, "no process started: \(run.output)")
        }

        /// The demo's processes are set up by the demo alone: the caller's MSERVE_* settings
        /// (here ones that would stop the broker) do not reach them.
        @Test func aDemoIgnoresTheCallersMServeSettings() async throws {
            let run = try await CommandRun.mserve(
                ["demo", "--servants", "1", "echo 42"],
                environment: [
                    "MSERVE_KEYS": "/nonexistent/keys", "MSERVE_ALGO": "nope", "MSERVE_SERVANTS": "bogus",
                    "MSERVE_USERS": "/nonexistent/users", "MSERVE_SERVANT_PLUGINS": "/nonexistent/plugin.so",
                ],
                timeout: 60)
            #expect(run.status == 0, "\(run.errors)")
            #expect(run.output.contains("q)send echo 42\n42\n"), "\(run.output)")
        }

        /// `mserve send -` sends every line of its input and prints the answers in input order;
        /// a failed query is shown in its place and the others still answered.
        @Test func sendReadsQueriesFromStandardInput() async throws {
            let cluster = try await ProcessCluster.start(servants: 2)
            defer { cluster.stop() }
            let queries = (1...100).map { "echo \($0)" } + ["", "exit 0", "sleep 50", "echo 101"]
            let quiet = try await CommandRun.mserve(
                ["send", "--broker", cluster.broker.endpoint, "--quiet", "-"], input: queries.joined(separator: "\n") + "\n")
            #expect(quiet.status == 1, "one query was refused")
            let results = quiet.output.split(separator: "\n").map(String.init)
            #expect(
                results == (1...100).map { "\($0)" }
                    + ["'mserve: refused at column 1: `exit` is a q built-in, not an API function", "50", "101"],
                "\(quiet.output)")
            #expect(quiet.errors == "mserve send: 1 query failed, on input line 102\n", "\(quiet.errors)")
            // A long query's `q)` line is its beginning and its length, not the query whole.
            let long = "echo \"" + String(repeating: "a", count: 5_000) + "\" 1"
            let refused = try await CommandRun.mserve(
                ["send", "--broker", cluster.broker.endpoint, "-"], input: long + "\n")
            #expect(refused.status == 1, "\(refused.errors)")
            #expect(
                refused.output.hasPrefix("q)echo \"" + String(repeating: "a", count: 4_090) + "… (5009 bytes)\n'mserve: refused"),
                "\(refused.output.prefix(300))")
            #expect(!refused.output.contains(String(repeating: "a", count: 4_091)), "\(refused.output.prefix(300))")

            let full = try await CommandRun.mserve(
                ["send", "--broker", cluster.broker.endpoint, "-"], input: "echo 1\necho 2\n")
            #expect(full.status == 0, "\(full.errors)")
            let lines = full.output.split(separator: "\n").map(String.init)
            #expect(lines.first == "q)echo 1" && lines.dropFirst().first == "1", "\(full.output)")
            #expect(lines.contains("q)echo 2") && lines.contains("routing  | `2"), "\(full.output)")
        }

        /// `-` (queries from standard input) with a query argument beside it is a usage error,
        /// not a query `- …` refused for its minus sign.
        @Test func sendRefusesAMinusWithOtherQueryArguments() async throws {
            let run = try await CommandRun.mserve(["send", "--broker", "tcp://127.0.0.1:9", "-", "echo", "1"], timeout: 60)
            #expect(run.status == 64, "\(run.errors)")
            #expect(
                run.errors.hasPrefix("Error: - reads the queries from standard input and takes no other query argument"),
                "\(run.errors)")
            #expect(run.output.isEmpty, "\(run.output)")
        }

        /// `send` flags that would do nothing with the others given are usage errors that say
        /// what to use instead, before any hub or broker is asked.
        @Test(arguments: [
            (["--hub", "tcp://127.0.0.1:9"], "--hub is only asked for the broker of a --service: give --service NAME with it"),
            (["--broker", "tcp://127.0.0.1:9", "--service", "dev"],
             "--broker and --service both say which broker to use: give --broker ENDPOINT to reach a broker directly"),
            (["--broker-key", "b"], "--broker-key names a key in the key directory: give --keys DIR (or MSERVE_KEYS) with it"),
            (["--key-name", "c"], "--key-name names a key in the key directory: give --keys DIR (or MSERVE_KEYS) with it"),
        ])
        func sendRefusesFlagsThatWouldDoNothing(arguments: [String], message: String) async throws {
            let run = try await CommandRun.mserve(["send"] + arguments + ["echo 1"], timeout: 60)
            #expect(run.status == 64, "\(run.errors)")
            #expect(run.errors.hasPrefix("Error: \(message)"), "\(run.errors)")
            #expect(run.errors.hasSuffix("See 'mserve send --help' for more information.\n"), "\(run.errors)")
            #expect(run.output.isEmpty, "\(run.output)")
        }

        /// `send --keys` pins the broker to broker.pub and needs no hub.pub without --service;
        /// with --service, the hub is asked with hub.pub pinned, so it is needed then.
        @Test func sendNeedsHubPubOnlyWithAService() async throws {
            try await withTemporaryDirectory("mserve-keys") { directory in
                for name in ["client", "broker"] {
                    let made = try await CommandRun.mserve(["keys", "new", name, "--keys", directory])
                    #expect(made.status == 0, "\(made.errors)")
                }
                let endpoint = "tcp://127.0.0.1:\(LoopbackPort.free())"
                let direct = try await CommandRun.mserve(
                    ["send", "--broker", endpoint, "--keys", directory, "--connect-timeout", "0.3", "echo 1"], timeout: 60)
                #expect(direct.status == 1)
                #expect(direct.errors.contains("no connection to the broker at \(endpoint)"), "\(direct.errors)")
                #expect(!direct.errors.contains("hub.pub"), "\(direct.errors)")

                let viaHub = try await CommandRun.mserve(
                    ["send", "--service", "dev", "--hub", endpoint, "--keys", directory, "echo 1"], timeout: 60)
                #expect(viaHub.status == 64)
                #expect(
                    viaHub.errors.hasPrefix(
                        "Error: --keys: cannot read the key file \(directory)/hub.pub: No such file or directory (--service asks the hub"),
                    "\(viaHub.errors)")
            }
        }

        /// `hub user add` refuses an empty password however it comes, and a user name the hub
        /// would refuse before it reads a password or asks the hub (none answers here).
        @Test(arguments: [
            (["alice", "--password", ""], nil, "--password was given an empty value ''"),
            (["alice"], "\n", "an empty password is refused"),
            (["a:b", "--password", "secret"], nil, "'a:b' is not a user name: it needs characters, and no ':' or whitespace"),
            (["a b"], "secret\n", "'a b' is not a user name"),
        ] as [([String], String?, String)])
        func hubUserAddRefusesAnEmptyPasswordAndABadName(arguments: [String], input: String?, message: String) async throws {
            let run = try await CommandRun.mserve(
                ["hub", "user", "add"] + arguments + ["--hub", "tcp://127.0.0.1:\(LoopbackPort.free())", "--timeout", "0.2"],
                input: input, timeout: 60)
            #expect(run.status == 64, "\(run.errors)")
            #expect(run.errors.hasPrefix("Error: \(message)"), "\(run.errors)")
            #expect(run.output.isEmpty, "\(run.output)")
        }

        /// The kdb+ door listens on a host given by name, as `--kdb-port localhost:5001`.
        @Test func theKdbDoorTakesAHostName() async throws {
            let port = LoopbackPort.free()
            let broker = try await MServeProcess(
                "broker", ["broker", "--clients", "tcp://127.0.0.1:0", "--kdb-port", "localhost:\(port)"])
            defer { broker.stop() }
            #expect(TCPProbe.canConnect(host: "127.0.0.1", port: port, timeoutMilliseconds: 5_000))
        }

        /// A fixed port in the kernel's ephemeral port range can be taken, while nothing listens
        /// on it, as the local port of an outgoing connection (on this host even by a client
        /// reconnecting to it, which connects to itself): a hub bound there, and a broker
        /// joining a hub there on this host, say so once at start; a port below the range is
        /// not warned of.
        @Test func aFixedPortInTheEphemeralRangeIsWarnedOf() async throws {
            let ephemeral = try #require(EphemeralPorts.current())
            func freePortInTheRange() throws -> Int {
                let port = (0..<1_000).lazy.map { _ in Int.random(in: ephemeral.range) }
                    .first { ephemeral.contains($0) && LoopbackPort.canBind($0) }
                return try #require(port, "no free port in the ephemeral range \(ephemeral.rangeText)")
            }
            let inRange = "in the kernel's ephemeral port range \(ephemeral.rangeText) (net.ipv4.ip_local_port_range)"
            try await withTemporaryDirectory("mserve-hub") { directory in
                let port = try freePortInTheRange()
                let hub = try await MServeProcess("hub", ["hub", "--bind", "tcp://127.0.0.1:\(port)", "--dir", directory])
                await hub.stop()
                let warning = "the hub endpoint tcp://127.0.0.1:\(port) (--bind) has port \(port), \(inRange)"
                let lines = hub.logs.split(separator: "\n").filter { $0.contains(warning) }
                #expect(lines.count == 1 && lines.allSatisfy { $0.contains(" warning ") }, "\(hub.logs)")
                #expect(
                    lines.first?.contains(
                        "this process cannot listen there again until that connection ends; give a port outside the range, or add \(port) to net.ipv4.ip_local_reserved_ports")
                        == true)

                let below = LoopbackPort.free()
                if !ephemeral.contains(below) {
                    let quiet = try await MServeProcess("hub", ["hub", "--bind", "tcp://127.0.0.1:\(below)", "--dir", directory])
                    await quiet.stop()
                    #expect(!quiet.logs.contains("ephemeral port range"), "\(quiet.logs)")
                }
            }
            let hubPort = try freePortInTheRange()
            let broker = try await MServeProcess(
                "broker",
                ["broker", "--clients", "tcp://127.0.0.1:0", "--hub", "tcp://127.0.0.1:\(hubPort)", "--status-every", "0"])
            await broker.stop()
            let warning =
                "the hub endpoint tcp://127.0.0.1:\(hubPort) (--hub) has port \(hubPort), \(inRange), which outgoing connections "
                + "take their local ports from: while the hub is down, this process's reconnects to it may be given that very port"
            #expect(broker.logs.split(separator: "\n").filter { $0.contains(warning) }.count == 1, "\(broker.logs)")
        }

        /// A ZeroMQ socket bound where other hosts reach it, without keys, lets anyone there take
        /// part: the broker's client endpoint, the hub and a servant say so once at start, as
        /// the kdb+ door and the HTTP side do; bound to loopback, they say nothing.
        @Test(arguments: [
            (["broker", "--clients", "tcp://*:0", "--status-every", "0"], "the client endpoint", "anyone who reaches it can send queries"),
            (["hub", "--bind", "tcp://*:0"], "the hub", "anyone who reaches it can register servants"),
            (["servant", "--bind", "tcp://*:0"], "this servant", "anyone who reaches it can run the functions it serves"),
        ])
        func aZeroMQSocketOthersCanReachWithoutKeysIsWarnedOf(arguments: [String], name: String, what: String) async throws {
            try await withTemporaryDirectory("mserve-hub") { directory in
                let directoryArguments = arguments[0] == "hub" ? ["--dir", directory] : []
                let open = try await MServeProcess(arguments[0], arguments + directoryArguments)
                let warning = "\(name) listens on \(open.endpoint) without --keys: \(what)"
                let warned = await eventually(timeout: .seconds(10)) { open.logs.contains(warning) }
                await open.stop()
                #expect(warned, "\(open.logs)")
                let lines = open.logs.split(separator: "\n").filter { $0.contains(warning) }
                #expect(lines.count == 1 && lines.allSatisfy { $0.contains(" warning ") }, "\(open.logs)")
                #expect(lines.first?.contains("give --keys DIR (or MSERVE_KEYS) to admit only allowed keys, or bind it to loopback") == true)

                let loopback = arguments.map { $0 == "tcp://*:0" ? "tcp://127.0.0.1:0" : $0 }
                let quiet = try await MServeProcess(arguments[0], loopback + directoryArguments)
                await quiet.stop()
                #expect(!quiet.logs.contains("without --keys"), "\(quiet.logs)")
            }
        }

        /// A broker or servant that serves the hub in `--hub auto` mode at an endpoint other
        /// hosts reach says so as `mserve hub --bind` does (auto mode has no keys); at a
        /// loopback hub endpoint it says nothing.
        @Test(arguments: [
            ["broker", "--clients", "tcp://127.0.0.1:0", "--status-every", "0"],
            ["servant", "--bind", "tcp://127.0.0.1:0"],
        ])
        func aHubServedInAutoModeThatOthersCanReachIsWarnedOf(arguments: [String]) async throws {
            try await withTemporaryDirectory("mserve-hub") { directory in
                let port = LoopbackPort.free()
                let open = try await MServeProcess(
                    arguments[0], arguments + ["--hub", "auto", "--hub-endpoint", "tcp://*:\(port)"],
                    environment: ["MSERVE_HUB_DIR": directory])
                let warning =
                    "the hub listens on tcp://0.0.0.0:\(port) without --keys: anyone who reaches it can register servants "
                    + "(which brokers then send clients' queries to), read its tables and the kdb+ users' password hashes; "
                    + "auto mode has no keys: serve the hub with mserve hub --keys DIR and give every process --hub ENDPOINT "
                    + "and --keys DIR, or bind it to loopback (--hub-endpoint tcp://127.0.0.1:PORT)"
                let warned = await eventually(timeout: .seconds(10)) { open.logs.contains(warning) }
                await open.stop()
                #expect(warned, "\(open.logs)")
                let lines = open.logs.split(separator: "\n").filter { $0.contains(warning) }
                #expect(lines.count == 1 && lines.allSatisfy { $0.contains(" warning ") }, "\(open.logs)")

                let loopbackPort = LoopbackPort.free()
                let quiet = try await MServeProcess(
                    arguments[0], arguments + ["--hub", "auto", "--hub-endpoint", "tcp://127.0.0.1:\(loopbackPort)"],
                    environment: ["MSERVE_HUB_DIR": directory])
                let served = await eventually(timeout: .seconds(10)) { quiet.logs.contains("hub serving") }
                await quiet.stop()
                #expect(served, "\(quiet.logs)")
                #expect(!quiet.logs.contains("without --keys"), "\(quiet.logs)")
            }
        }
    }
}
