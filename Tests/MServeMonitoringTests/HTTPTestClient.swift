import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// What a GET (or another method) got from the HTTP side.
struct HTTPAnswer {
    var status: Int
    var contentType: String
    var body: String
}

/// Asks `http://127.0.0.1:port/path` with `method`.
func http(_ method: String = "GET", port: Int, _ path: String) async throws -> HTTPAnswer {
    var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
    request.httpMethod = method
    // Long enough for a machine that holds the server back for a while.
    request.timeoutInterval = 60
    let (data, response) = try await URLSession.shared.data(for: request)
    let http = response as! HTTPURLResponse
    return HTTPAnswer(
        status: http.statusCode, contentType: http.value(forHTTPHeaderField: "Content-Type") ?? "",
        body: String(decoding: data, as: UTF8.self))
}

/// The value of the sample `name{labels}` in Prometheus text (labels in the order emitted,
/// matched as a set); nil when absent.
func sample(_ text: String, _ name: String, _ labels: [String: String] = [:]) -> Double? {
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " ") else { continue }
        let series = line[..<space]
        let value = Double(line[line.index(after: space)...])
        let (metric, labelText): (Substring, Substring) =
            if let brace = series.firstIndex(of: "{") {
                (series[..<brace], series[series.index(after: brace)..<series.index(before: series.endIndex)])
            } else {
                (series, "")
            }
        guard metric == name else { continue }
        var found: [String: String] = [:]
        for pair in labelText.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            found[String(parts[0])] = String(parts[1].dropFirst().dropLast())
        }
        if found == labels { return value }
    }
    return nil
}
