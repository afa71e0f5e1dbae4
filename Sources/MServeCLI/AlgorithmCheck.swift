import ArgumentParser
import MServePlugin

extension DispatchPluginRegistry {
    /// Refuses, as a usage error naming `source` (`--algorithm`, `MSERVE_ALGO`), an algorithm
    /// `spec` that no loaded plugin provides or whose plugin refuses its configuration. For
    /// an unknown name the message lists the algorithms available and says how to add one:
    /// a `libmserve-algorithm-*.so` file in the directory scanned (beside `mserve`), or, when
    /// the command takes extra plugin files (`takesExtraFiles`: `mserve broker`), its path in
    /// `MSERVE_PLUGINS` or `--plugins`.
    func checkAlgorithm(_ spec: String, source: String, takesExtraFiles: Bool) throws {
        do {
            _ = try makeAlgorithm(spec)
        } catch where error.code == .unknownAlgorithm {
            throw ValidationError("\(source): \(error). \(howToAddAnAlgorithm(takesExtraFiles: takesExtraFiles))")
        } catch {
            throw ValidationError("\(source): \(error)")
        }
    }

    /// Where a plugin file is put for its algorithm to be found, as a sentence.
    private func howToAddAnAlgorithm(takesExtraFiles: Bool) -> String {
        let pattern = "\(Self.fileNamePrefix)NAME\(Self.fileNameSuffix)"
        let places = directories.isEmpty ? "beside the mserve binary" : "in \(directories.joined(separator: " or "))"
        let scanned = "put its plugin file, named \(pattern), \(places)"
        guard takesExtraFiles else { return "To add one, \(scanned)." }
        return "To add one, list its plugin file in MSERVE_PLUGINS or --plugins (colon-separated paths), or \(scanned)."
    }
}
