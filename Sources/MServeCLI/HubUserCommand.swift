import ArgumentParser
import Foundation
import MServeBroker
import MServeHub
import MServePasswords

#if canImport(Glibc)
import Glibc
#endif

/// Prints the kdb+ users, one `name kind` line each (never the hash); none is said on
/// standard error, as ``printKeys(_:command:)`` says it.
func printUsers(_ users: [HubUser], command: String) {
    if users.isEmpty { sayEmpty("mserve hub \(command): no kdb+ user (mserve hub user add NAME adds one)") }
    for user in users { announce("\(user.name)\t\(user.kind)") }
}

/// `mserve hub user add|remove`: edit the kdb+ users the hub serves to brokers (`--users hub`).
struct HubUserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Add or remove a kdb+ IPC user (for brokers started with --users hub).",
        subcommands: [Add.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Add a kdb+ user, or change its password.",
            discussion: """
                The hub stores only a salted slow hash of the password (PBKDF2-HMAC-SHA256, \
                \(PasswordHash.defaultRounds) rounds, a random salt per user), computed here: \
                neither the password nor a fast digest of it is sent. --sha256 HEX and --sha1 HEX \
                (a digest as in a kdb+ -u file) are kept inside such a hash too; --sha256 - and \
                --sha1 - read the digest from standard input (one line). With none of \
                --password, --sha256, --sha1 the password is read from standard input (one line; \
                prompted for, without echo, on a terminal): give it so, as in `mserve hub user add \
                NAME < password.txt`. A password or digest given on the command line is in the \
                process list while the command runs, where every local user may read it (ps; an \
                unsalted digest can be guessed against offline): the command warns of it on \
                standard error, and goes on. Brokers started with --users hub admit the user \
                within a second. Prints the users (name and hash kind).
                """)

        @Argument(help: "The user name (no ':' or whitespace).") var name: String

        @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("The password, stored as a salted PBKDF2 hash; visible to other local users in the process list (give it on standard input instead).", valueName: "text"))
        var password: String?

        @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("The SHA-256 digest of the password, 64 hex digits; - reads it from standard input (on the command line it is visible to other local users in the process list).", valueName: "hex"))
        var sha256: String?

        @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("The SHA-1 digest of the password, 40 hex digits; - reads it from standard input (on the command line it is visible to other local users in the process list).", valueName: "hex"))
        var sha1: String?

        @OptionGroup var options: HubAdminOptions

        /// Refuses, before the password is prompted for or the hub asked, a user name the hub
        /// would refuse and an empty password.
        func validate() throws {
            guard !name.isEmpty, !name.contains(":"), !name.contains(where: \.isWhitespace) else {
                throw ValidationError("'\(name)' is not a user name: it needs characters, and no ':' or whitespace")
            }
            guard [password, sha256, sha1].compactMap({ $0 }).count <= 1 else {
                throw ValidationError("give at most one of --password, --sha256 and --sha1")
            }
            if let sha256, sha256 != Self.standardInput, PasswordDigestKind(digest: sha256) != .sha256 {
                throw ValidationError("--sha256 expects 64 hex digits, or - to read them from standard input")
            }
            if let sha1, sha1 != Self.standardInput, PasswordDigestKind(digest: sha1) != .sha1 {
                throw ValidationError("--sha1 expects 40 hex digits, or - to read them from standard input")
            }
            if password?.isEmpty == true { throw Self.emptyPassword }
        }

        /// Whichever way it comes, an empty password would let anyone in as the user.
        static let emptyPassword = ValidationError(
            "an empty password is refused: give a password, or its digest with --sha256 or --sha1")

        /// The warning `--password` prints on standard error: the password is in the process
        /// list (`ps`, `/proc/PID/cmdline`), which every local user may read, while the
        /// command runs; and the way to give it unseen.
        static func passwordOnTheCommandLineWarning(for name: String) -> String {
            "mserve hub user add: warning: --password puts the password in the process list, where every local user "
                + "may read it (ps) while this command runs; give it on standard input instead: mserve hub user add "
                + "\(name) < FILE (one line), or mserve hub user add \(name) alone on a terminal, which prompts for it "
                + "without echo"
        }

        /// The value of `--sha256` and `--sha1` that reads the digest from standard input.
        static let standardInput = "-"

        /// The warning a digest given on the command line prints on standard error: like a
        /// password, it is in the process list while the command runs, and an unsalted digest
        /// can be guessed against offline; and the way to give it unseen.
        static func digestOnTheCommandLineWarning(option: String, for name: String) -> String {
            "mserve hub user add: warning: \(option) puts the password's digest in the process list, where every local "
                + "user may read it (ps) while this command runs, and an unsalted digest can be guessed against offline; "
                + "give it on standard input instead: mserve hub user add \(name) \(option) - < FILE (one line)"
        }

        func run() async throws {
            if password != nil {
                FileHandle.standardError.writeIgnoringFailure(Data((Self.passwordOnTheCommandLineWarning(for: name) + "\n").utf8))
            }
            let hash: PasswordHash
            if let given = sha256 ?? sha1 {
                let option = sha256 != nil ? "--sha256" : "--sha1"
                let digest: String
                if given == Self.standardInput {
                    guard let line = readLine(strippingNewline: true) else {
                        throw ValidationError("no digest: \(option) - reads one line of standard input, and there was none")
                    }
                    digest = line.trimmingCharacters(in: .whitespaces)
                } else {
                    FileHandle.standardError.writeIgnoringFailure(
                        Data((Self.digestOnTheCommandLineWarning(option: option, for: name) + "\n").utf8))
                    digest = given
                }
                let expected: PasswordDigestKind = sha256 != nil ? .sha256 : .sha1
                guard PasswordDigestKind(digest: digest) == expected, let wrapped = PasswordHash(wrappingDigest: digest) else {
                    throw ValidationError(
                        "\(option) -: the line on standard input is not \(expected.hexDigits) hex digits (it has \(digest.count) characters)")
                }
                hash = wrapped
            } else {
                hash = PasswordHash(password: try password ?? Self.readPassword(for: name))
            }
            printUsers(try await options.edit { try await $0.addUser(name: name, hash: hash.description) }, command: "user add")
        }

        /// One line of standard input, or a prompt without echo on a terminal; never empty.
        static func readPassword(for name: String) throws -> String {
            if isatty(STDIN_FILENO) == 1, let typed = getpass("password for \(name): ") {
                let password = String(cString: typed)
                guard !password.isEmpty else { throw emptyPassword }
                return password
            }
            guard let line = readLine(strippingNewline: true) else {
                throw ValidationError("no password: give --password, --sha256 or --sha1, or one line on standard input")
            }
            guard !line.isEmpty else { throw emptyPassword }
            return line
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove",
            abstract: "Remove a kdb+ user; brokers with --users hub refuse it within a second.")

        @Argument(help: "The user name.") var name: String
        @OptionGroup var options: HubAdminOptions

        func run() async throws {
            printUsers(try await options.edit { try await $0.removeUser(name: name) }, command: "user remove")
        }
    }
}

/// `mserve hub users`: list the kdb+ users.
struct HubUsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "List the kdb+ users: name and how the password is kept (pbkdf2-sha256, or pbkdf2-sha256/sha1 or /sha256 for a digest given).")
    // Only reads: no --dir, as no admin token goes with it.
    @OptionGroup var options: HubClientOptions

    func run() async throws {
        printUsers(try await options.client(defaultKeyName: "hub").users(), command: "users")
    }
}
