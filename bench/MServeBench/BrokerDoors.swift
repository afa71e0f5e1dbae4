/// The broker's client doors a run's load can come through: its ZeroMQ ROUTER socket (raw
/// DEALER clients, `DealerLoad`) or its kdb+ IPC door (TCP clients, `KdbLoad`).
enum BrokerDoor: String, CaseIterable, Sendable {
    case zmq
    case kdb

    /// The row's name in the table and the CSV: the algorithm, marked for the kdb+ door.
    func rowName(algorithm: String) -> String { self == .zmq ? algorithm : "\(algorithm) (kdb door)" }

    /// The row's kind: `broker` rows make the per-algorithm plot matrices; `kdb` rows do not.
    var rowKind: String { self == .zmq ? "broker" : "kdb" }

    /// The doors measured on `workload` for `--door` (`zmq`, `kdb` or `both`). With `both`
    /// and every workload, the kdb+ door is measured on `echo` only, which keeps the full run
    /// under three minutes; a single workload gets both doors.
    static func doors(option: String, workload: Workload, everyWorkload: Bool) -> [BrokerDoor] {
        switch option {
        case "zmq": [.zmq]
        case "kdb": [.kdb]
        default: everyWorkload && workload != .echo ? [.zmq] : [.zmq, .kdb]
        }
    }
}

extension Targets {
    /// Reports the kdb+ door's throughput over the ZeroMQ door's for every workload and
    /// algorithm measured through both in this run.
    mutating func addDoorComparisons(rows: [BenchRow]) {
        for kdbRow in rows where kdbRow.kind == BrokerDoor.kdb.rowKind {
            guard
                let zmqRow = rows.first(where: {
                    $0.kind == BrokerDoor.zmq.rowKind && $0.workload == kdbRow.workload
                        && BrokerDoor.kdb.rowName(algorithm: $0.name) == kdbRow.name
                }), zmqRow.result.throughput > 0
            else { continue }
            add(
                "kdb door throughput / zmq door (\(kdbRow.workload), \(zmqRow.name))",
                kdbRow.result.throughput / zmqRow.result.throughput, "report", true)
        }
    }
}
