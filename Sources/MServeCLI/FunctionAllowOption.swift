import ArgumentParser
import Foundation

/// `--allow NAMES`, the same for a broker (checked before a query is dispatched) and a servant
/// (checked before it runs a query, whoever sent it): only the functions named may be called.
struct FunctionAllowOption: ParsableArguments {
    @Option(
        name: .long,
        parsing: .unconditional,
        help: ArgumentHelp("Only these functions may be called (comma-separated; default any).", valueName: "names"))
    var allow: String?

    /// The names `--allow` lists, nil when it is not given (any function may be called). A
    /// list that names no function is a usage error: it would allow every function, so
    /// `--allow "$UNSET"` cannot open the door.
    func names() throws -> [String]? {
        guard let allow else { return nil }
        let names = allow.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else {
            throw ValidationError("--allow '\(allow)' names no function; leave --allow out to allow any")
        }
        return names
    }
}
