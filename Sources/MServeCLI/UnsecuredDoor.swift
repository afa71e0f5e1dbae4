// A ZeroMQ socket a process binds without keys: when other hosts can reach it, anyone there
// takes part (docs/SECURITY.md), and the process says so once at start, as the kdb+ door and
// the HTTP side do.

import MServeHub

/// A ZeroMQ socket bound without `--keys`, and what its warning says.
struct UnsecuredDoor: Sendable {
    /// The endpoint the socket binds, as given (`tcp://*:5570`, an address, a name): judged as
    /// a spoke's is (``SpokeReachability/listensOnLoopbackOnly(_:lookUp:)``).
    let bind: String
    /// What listens, as the line begins: `the client endpoint`, `the hub`, `this servant`.
    let name: String
    /// What anyone who reaches it can do (docs/SECURITY.md's table).
    let anyoneCan: String
    /// How to bind it to loopback instead.
    var loopback: String
    /// How to admit only allowed keys.
    var keys = "give --keys DIR (or MSERVE_KEYS) to admit only allowed keys"

    /// The warning for the socket bound at `bound`; nil when only this host reaches it.
    func warning(bound: String) -> String? {
        guard !SpokeReachability.listensOnLoopbackOnly(bind) else { return nil }
        return "\(name) listens on \(bound) without --keys: anyone who reaches it can \(anyoneCan); "
            + "\(keys), or bind it to loopback (\(loopback))"
    }

    /// A broker's client socket.
    static func clients(_ bind: String) -> Self {
        UnsecuredDoor(
            bind: bind, name: "the client endpoint", anyoneCan: "send queries, which run on every servant",
            loopback: "--clients tcp://127.0.0.1:PORT")
    }

    /// A hub's socket.
    static func hub(_ bind: String) -> Self {
        UnsecuredDoor(
            bind: bind, name: "the hub",
            anyoneCan: "register servants (which brokers then send clients' queries to), read its tables and the kdb+ users' password hashes",
            loopback: "--bind tcp://127.0.0.1:PORT")
    }

    /// The hub a broker or servant serves in-process in `--hub auto` mode, which has no keys.
    static func autoModeHub(_ bind: String) -> Self {
        var door = hub(bind)
        door.loopback = "--hub-endpoint tcp://127.0.0.1:PORT"
        door.keys = "auto mode has no keys: serve the hub with mserve hub --keys DIR and give every process --hub ENDPOINT and --keys DIR"
        return door
    }

    /// A servant's socket.
    static func servant(_ bind: String) -> Self {
        UnsecuredDoor(
            bind: bind, name: "this servant", anyoneCan: "run the functions it serves, as a broker does",
            loopback: "leave out --advertise and --bind")
    }
}
