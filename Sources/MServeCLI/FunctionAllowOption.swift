import ArgumentParser
import Foundation

/// `--allow NAMES`, the same for a broker (checked before a query is dispatched) and a servant
/// (checked before it runs a query, whoever sent it): only the functions named may be called.
/// Repeatable: `--allow echo --allow pid` allows both, as `--allow echo,pid` does.
struct FunctionAllowOption: ParsableArguments {
    @Option(
        name: .long,
        parsing: .unconditionalSingleValue,
        help: ArgumentHelp("Only these functions may be called (comma-separated, repeatable; default any).", valueName: "names"))
    var allow: [String] = []

    /// The names every `--allow` lists, nil when none is given (any function may be called). A
    /// list that names no function is a usage error: it would allow every function, so
    /// `--allow "$UNSET"` cannot open the door.
    func names() throws -> [String]? {
        guard !allow.isEmpty else { return nil }
        let names = allow.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard !names.isEmpty else {
            throw ValidationError("--allow '\(allow.joined(separator: ","))' names no function; leave --allow out to allow any")
        }
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }
    }
}
