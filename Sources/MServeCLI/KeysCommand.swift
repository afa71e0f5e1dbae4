public import ArgumentParser
import Foundation
public import MServeHub
import ZeroMQ

/// The key directory: `--keys DIR`, else `MSERVE_KEYS`; nil means security is off.
func keyDirectory(_ flag: String?) -> ZMQKeyDirectory? {
    (flag ?? environment("MSERVE_KEYS")).map { ZMQKeyDirectory(path: $0) }
}

/// What gave the key directory of ``keyDirectory(_:)``, for messages: `--keys` when `flag` is
/// given, else `MSERVE_KEYS`.
func keyDirectorySource(_ flag: String?) -> String {
    flag == nil ? "MSERVE_KEYS" : "--keys"
}

/// The default key directory for `mserve keys new`: `MSERVE_KEYS`, else `~/.mserve/keys`.
var defaultKeyDirectory: String {
    environment("MSERVE_KEYS")
        ?? (homeDirectory as NSString).appendingPathComponent(".mserve/keys")
}

/// `mserve keys`: make CURVE key pairs.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Make CURVE key pairs for MServe's security (--keys DIR).",
        subcommands: [KeysNewCommand.self])
}

struct KeysNewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new",
        abstract: "Write NAME.key (secret, mode 0600) and NAME.pub (Z85 public key).",
        discussion: """
            Conventional names: hub (the hub's own key; whoever holds hub.key may allow and \
            revoke keys), broker, servant, client. Prints the public key. Admit it with \
            `mserve hub allow NAME DIR/NAME.pub --role ROLE`.

            NAME.key is created with mode 0600 from its first instant, whatever the umask, so \
            no other user can read it even while it is written. Every command that loads a \
            secret key refuses one its group or others may read or write (as ssh does): run \
            chmod 600 on it. It refuses as well a key directory its group or others may write, \
            or that belongs to another user than root or its own: run chmod go-w on it. So \
            does `keys new`, before it writes a key there (a shared directory such as /tmp \
            included: give a directory of your own).
            """)

    @Argument(help: "The key's name, e.g. servant.") var name: String

    /// `--keys`, as every other command names the key directory; `--dir` is kept as an alias.
    @Option(
        name: [.customLong("keys"), .customLong("dir")],
        parsing: .unconditional,
        help: ArgumentHelp("Key directory (env MSERVE_KEYS, default ~/.mserve/keys; --dir also works).", valueName: "path"))
    var keys: String?

    /// Refuses a name whose files would not stay inside the key directory.
    func validate() throws {
        guard ZMQKeyDirectory.isValidName(name) else {
            throw ValidationError("'\(name)' cannot name a key: use letters, digits, '-', '_' and '.', not starting with '.'")
        }
    }

    /// A directory or file that cannot be made is a failure (status 1) naming the path, not a
    /// usage error. A key directory it creates is its user's alone (mode 0700). A key
    /// directory another user controls is refused as every command loading keys refuses it
    /// (``ZMQKeyDirectory/refuseDirectoryOthersControl()``), a usage error (status 64), before
    /// any key is written: whoever may write it could replace the new keys with their own.
    func run() async throws {
        let path = keys ?? defaultKeyDirectory
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw CommandFailure("cannot create the key directory \(path): \(fileErrorReason(error))")
        }
        let directory = ZMQKeyDirectory(path: path)
        do {
            try directory.refuseDirectoryOthersControl()
        } catch {
            // The default directory has no option or variable to name.
            let source = keys == nil && environment("MSERVE_KEYS") == nil ? "" : "\(keyDirectorySource(keys)): "
            throw ValidationError(source + error.message)
        }
        let pair: ZMQCurveKeyPair
        do {
            pair = try directory.create(name)
        } catch let error as ZMQKeyFileError {
            throw CommandFailure(error.message)
        } catch {
            throw CommandFailure("cannot write the key \(name) in \(path): \(fileErrorReason(error))")
        }
        announce(pair.publicKey)
    }
}

/// Options for editing the hub's allowed keys and users.
struct HubAdminOptions: ParsableArguments {
    @OptionGroup var client: HubClientOptions

    @Option(
        name: .long,
        parsing: .unconditional,
        help: ArgumentHelp(
            "Hub directory, where the hub writes its admin token: a hub without --keys takes allow, revoke and user add/remove only with it (env MSERVE_HUB_DIR, default ~/.mserve/hub).",
            valueName: "path"))
    var dir: String?

    /// A hub client that, with security on, speaks as the hub's own key (the admin, `hub.key`)
    /// unless `--key-name` names another; it sends the admin token of the hub directory with
    /// the commands that edit, when this user can read it.
    private func hubClient() throws -> HubClient {
        var hubClient = try client.client(defaultKeyName: "hub")
        hubClient.adminToken = HubAdminToken.read(directory: directory)
        return hubClient
    }

    /// The hub directory the admin token is read from.
    private var directory: String { dir ?? HubEnvironment.directory }

    /// Runs an edit with ``hubClient()``. When the hub refuses it for want of the admin token
    /// and none could be read here, the error says where it was looked for and how to point
    /// elsewhere: the likely slip is a hub directory other than the default.
    func edit<Result>(_ body: (HubClient) async throws -> Result) async throws -> Result {
        let hubClient = try hubClient()
        do {
            return try await body(hubClient)
        } catch let error as HubError where hubClient.adminToken == nil && error.code == .adminTokenMissing {
            throw CommandFailure(
                "\(error.message); no token was read from \(HubAdminToken.path(directory: directory)): give the "
                    + "hub's directory with --dir or MSERVE_HUB_DIR, as this user (the token is readable by the hub's user only)")
        }
    }
}

/// Prints the admitted keys, one `name key role` line each. An empty list is said on standard
/// error (as `hub resolve` says a service has no servant), so that it is not taken for a
/// command that did nothing; standard output stays the list alone.
func printKeys(_ keys: [AllowedKey], command: String) {
    if keys.isEmpty { sayEmpty("mserve hub \(command): no key is admitted (mserve hub allow NAME FILE.pub admits one)") }
    for key in keys { announce("\(key.name)\t\(key.key)\t\(key.role)") }
}

/// Says on standard error that a hub listing is empty.
func sayEmpty(_ line: String) {
    FileHandle.standardError.writeIgnoringFailure(Data((line + "\n").utf8))
}

extension KeyRole: ExpressibleByArgument {
    /// A role from its command-line name.
    public init?(argument: String) {
        guard let role = try? KeyRole(validating: argument) else { return nil }
        self = role
    }

    /// The role names `--help` lists.
    public static var allValueStrings: [String] { known.map(\.rawValue) }
}

struct HubAllowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allow", abstract: "Admit a public key (a .pub file) under a name, in a role.",
        discussion: """
            The role says what the key may do besides talking to the hub (every allowed key \
            may): client sends queries to brokers; servant registers as a servant and is used \
            by brokers; broker registers as a broker and reaches servants; any does all of it. \
            Allowing a name again replaces its key and role. Prints the admitted keys.

            The file is refused if it, or the directory holding it, belongs to a user other \
            than root or yours, or its group or others may write it (a shared directory such \
            as /tmp included): whoever could change it would have their own key admitted.
            """)
    @Argument(help: "The name to admit it under.") var name: String
    @Argument(help: "The public key file (NAME.pub).") var keyFile: String
    @Option(
        name: .long,
        parsing: .unconditional,
        help: ArgumentHelp(
            "What the key may be used as. The default is client, the least a key can do: a key allowed without thought of its role can send queries, but a servant or broker using it is refused, and the refusal names the role.",
            valueName: "client|servant|broker|any"))
    var role: KeyRole = .default
    @OptionGroup var options: HubAdminOptions

    func run() async throws {
        let key: String
        do {
            key = try ZMQKeyDirectory.readPublicKey(at: keyFile)
        } catch {
            throw ValidationError("\(error)")
        }
        printKeys(try await options.edit { try await $0.allow(name: name, key: key, role: role) }, command: "allow")
    }
}

struct HubRevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke", abstract: "Stop admitting the key with this name.")
    @Argument(help: "The name the key was admitted under.") var name: String
    @OptionGroup var options: HubAdminOptions

    func run() async throws {
        printKeys(try await options.edit { try await $0.revoke(name: name) }, command: "revoke")
    }
}

struct HubKeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "List the admitted keys: name, public key and role.")
    // Only reads: no --dir, as no admin token goes with it.
    @OptionGroup var options: HubClientOptions

    func run() async throws {
        printKeys(try await options.client(defaultKeyName: "hub").allowedKeys(), command: "keys")
    }
}
