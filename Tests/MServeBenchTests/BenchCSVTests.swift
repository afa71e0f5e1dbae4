// BenchCSVTests: the CSV files of mserve-bench's --csv carry the run's settings on every row.

import ArgumentParser
import Testing

@testable import MServeBench

@Suite struct BenchCSVTests {
    /// Every row ends with the settings, after the suite's own columns, and a value holding a
    /// comma or a quote stays one field.
    @Test func everyRowEndsWithTheSettings() {
        var file = BenchCSV(
            columns: ["round", "qps"],
            settings: [.init("servants", 3), .init("algorithms", "orig,match"), .init("note", "a \"b\"")])
        file.append(["1", "100"])
        file.append(["2", "200"])
        #expect(
            file.text == """
                round,qps,servants,algorithms,note
                1,100,3,"orig,match","a ""b\"""
                2,200,3,"orig,match","a ""b\"""

                """)
    }

    /// `broker.csv` and `targets.csv` name the options the run was given, and the capacity the
    /// broker used when given none (its servants' threads).
    @Test func theBrokerFilesRecordTheRunsSettings() throws {
        let suite = try BrokerSuite.parse([
            "--servants", "3", "--threads", "2", "--clients", "5", "--in-flight", "7", "--duration", "0.5",
            "--symbols", "9", "--door", "zmq",
        ])
        let rows = [BenchRow(kind: "broker", workload: "echo", name: "orig", result: LoadResult())]
        let lines = BenchOutput.brokerCSV(rows: rows, settings: suite.csvSettings).text.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(
            lines.first?.hasSuffix(",servants,threads,capacity,clients,in_flight,duration_s,cache,symbols,door") == true,
            "\(lines)")
        #expect(lines.last?.hasPrefix("broker,echo,orig,") == true, "\(lines)")
        #expect(lines.last?.hasSuffix(",3,2,2,5,7,0.5,1,9,zmq") == true, "\(lines)")
    }

    /// Each suite that writes a CSV records the options it ran with.
    @Test(arguments: [
        (
            ["echo-ratio", "--algorithm", "match", "--servants", "3", "--clients", "2", "--in-flight", "8", "--rounds", "3"],
            "algorithm=match servant_kind=mserve servants=3 capacity=1 clients=2 in_flight=8 duration_s=4.0 rounds=3 http=no"
        ),
        (
            ["chaos", "--servants", "4", "--capacity", "2", "--crash-every", "0.5", "--queries", "100"],
            "queries=100 clients=4 in_flight=16 servants=4 capacity=2 algorithm=match crash_every_s=0.5 seed=7"
        ),
        (
            ["memory", "--queries", "300", "--every", "100", "--clients", "2"],
            "total_queries=300 every=100 algorithm=match clients=2 in_flight=16 capacity=1"
        ),
        (
            ["memory", "--large", "--rounds", "2", "--servants", "shipped"],
            "rounds=2 longs=5000000 string_bytes=10000000 idle_s=12.0 servants=shipped"
        ),
    ])
    func eachSuiteRecordsItsOptions(arguments: [String], settings: String) throws {
        let command = try MServeBench.parseAsRoot(arguments)
        let recorded: [BenchCSV.Setting] =
            switch command {
            case let suite as EchoRatioSuite: suite.csvSettings
            case let suite as ChaosSuite: suite.csvSettings
            case let suite as MemorySuite: suite.csvSettings
            default: []
            }
        #expect(recorded.map { "\($0.name)=\($0.value)" }.joined(separator: " ") == settings)
    }
}
