#!/usr/bin/env python3
"""Broker CPU with many servants: one helper process plays N MSV1 servants, each on its own
ROUTER socket and port (docs/PROTOCOL.md: HELLO -> READY, PING -> PONG, QUERY -> REPLY echoing
each `(id; query)` back as its answer), a real `mserve broker` is started over them, and

  * idle: the broker's CPU while it only heartbeats the N servants (the PING storm), and
  * load: raw DEALER clients keep queries in flight; the broker's CPU per query answered.

CPU is user + system time of the broker process from /proc/PID/stat (clock ticks, 10 ms).
A bench helper, not a product feature. Needs pyzmq (the virtualenv scripts/setup makes).

    ~/.cache/mserve/venv/bin/python bench/fleet_bench.py --servants 2,100,1000

The broker is `--mserve PATH`; by default the package's release build
(.build/release/mserve beside bench/), else bin/mserve beside bench/ (release binaries
unpacked with it), else `mserve` on PATH.
"""
import argparse
import heapq
import os
import shutil
import struct
import subprocess
import sys
import time

import zmq

MARKER = b"MSV1"
TICKS = os.sysconf("SC_CLK_TCK")


def q_long(value):
    return b"\xf9" + struct.pack("<q", value)


def q_symbol_atom(text):
    return b"\xf5" + text.encode() + b"\x00"


def q_message(payload):
    return struct.pack("<BBBBi", 1, 0, 0, 0, 8 + len(payload)) + payload


def ready_info(incarnation, capacity, functions=()):
    """The READY dictionary: incarnation, capacity, pid, service, and `functions` when some are
    given (none: every function)."""
    keys = ["incarnation", "capacity", "pid", "service"] + (["functions"] if functions else [])
    key_vector = b"\x0b\x00" + struct.pack("<i", len(keys)) + b"".join(k.encode() + b"\x00" for k in keys)
    values = [q_long(incarnation), q_long(capacity), q_long(os.getpid()), q_symbol_atom("fleet")]
    if functions:
        values.append(b"\x0b\x00" + struct.pack("<i", len(functions)) + b"".join(f.encode() + b"\x00" for f in functions))
    value_list = b"\x00\x00" + struct.pack("<i", len(values)) + b"".join(values)
    return q_message(b"\x63" + key_vector + value_list)


def query_message(query_id, text):
    data = text.encode()
    item = b"\x0a\x00" + struct.pack("<i", len(data)) + data
    return q_message(b"\x00\x00" + struct.pack("<i", 2) + q_long(query_id) + item)


def serve(base_port, count, capacity, cold_us=0, groups=0):
    """Plays `count` servants on ports base_port ... base_port + count - 1 until killed. With
    `cold_us` > 0 a servant answers a query whose text differs from the one it ran last (a cold
    run: its data is not loaded) `cold_us` microseconds later, and the others (warm) at once.
    With `groups` > 0 servant i announces the one function `f(i mod groups)` (else every one)."""
    context = zmq.Context()
    poller = zmq.Poller()
    sockets = []
    for index in range(count):
        socket = context.socket(zmq.ROUTER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.bind("tcp://127.0.0.1:%d" % (base_port + index))
        poller.register(socket, zmq.POLLIN)
        sockets.append(socket)
    incarnation = struct.pack("<q", 7_000_000 + os.getpid())
    readies = [ready_info(7_000_000 + os.getpid(), capacity, ["f%d" % (index % groups)] if groups > 0 else ())
               for index in range(count)]
    ready_of = {socket: readies[index] for index, socket in enumerate(sockets)}
    warm = struct.pack("<Q", 1000)
    cold = struct.pack("<Q", max(1000, cold_us * 1000))
    last_query = {}
    delayed = []  # (due, sequence, socket, frames): cold answers, earliest first
    sequence = 0
    print("ready", flush=True)
    while True:
        timeout = None
        if delayed:
            timeout = max(0, int((delayed[0][0] - time.monotonic()) * 1000) + 1)
        for socket, _ in poller.poll(timeout):
            while True:
                try:
                    frames = socket.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                if len(frames) < 3 or frames[1] != MARKER:
                    continue
                identity, command = frames[0], frames[2]
                if command == b"HELLO":
                    socket.send_multipart([identity, MARKER, b"READY", ready_of[socket]])
                elif command == b"PING":
                    socket.send_multipart([identity, MARKER, b"PONG", incarnation])
                elif command == b"QUERY":
                    reply = [identity, MARKER, b"REPLY"]
                    is_cold = False
                    for first in range(3, len(frames) - 1, 2):
                        # The query's text: past the message header, the list's and the id's bytes.
                        text = frames[first + 1][8 + 6 + 9:]
                        is_cold = is_cold or (cold_us > 0 and last_query.get(socket) != text)
                        last_query[socket] = text
                        reply += [frames[first], frames[first + 1], None]
                    for slot in range(5, len(reply), 3):
                        reply[slot] = cold if is_cold else warm
                    if is_cold:
                        sequence += 1
                        heapq.heappush(delayed, (time.monotonic() + cold_us / 1e6, sequence, socket, reply))
                    else:
                        socket.send_multipart(reply)
        now = time.monotonic()
        while delayed and delayed[0][0] <= now:
            _, _, socket, reply = heapq.heappop(delayed)
            socket.send_multipart(reply)


def broker_cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def query_text(query_id, symbols, function="echo"):
    """`echo 1`, or with `symbols` > 0 `echo `sN` over that many routing strings in turn (with
    `match` a servant then holds one of many routing strings, as in a real fleet)."""
    return function + " 1" if symbols <= 0 else "%s `s%d" % (function, query_id % symbols)


def drive(endpoint, clients, in_flight, seconds, symbols=0, function="echo"):
    """Keeps `in_flight` queries outstanding per client for `seconds`; returns replies received."""
    context = zmq.Context()
    poller = zmq.Poller()
    sockets = []
    for _ in range(clients):
        socket = context.socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.connect(endpoint)
        poller.register(socket, zmq.POLLIN)
        sockets.append(socket)
    next_id = 1
    for socket in sockets:
        for _ in range(in_flight):
            socket.send(query_message(next_id, query_text(next_id, symbols, function)))
            next_id += 1
    answered = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for socket, _ in poller.poll(100):
            while True:
                try:
                    socket.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                answered += 1
                socket.send(query_message(next_id, query_text(next_id, symbols, function)))
                next_id += 1
    context.destroy(0)
    return answered


def default_mserve():
    """The `mserve` to start when --mserve is not given: the package's release build, else
    bin/mserve beside bench/, else the one on PATH (None when there is none)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for candidate in (os.path.join(root, ".build", "release", "mserve"), os.path.join(root, "bin", "mserve")):
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("mserve")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", nargs=5, type=int, metavar=("BASE_PORT", "COUNT", "CAPACITY", "COLD_US", "GROUPS"), help=argparse.SUPPRESS)
    parser.add_argument("--servants", default="2,100,1000")
    parser.add_argument("--mserve", help="the mserve binary (default: .build/release/mserve, else bin/mserve, "
                        "beside bench/; else mserve on PATH)")
    parser.add_argument("--algorithm", default="orig")
    parser.add_argument("--base-port", type=int, default=61500, help="first servant port; keep the range out of the ephemeral ports (/proc/sys/net/ipv4/ip_local_port_range), which the broker's own connections use")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--heartbeat", type=float, default=0.4, help="the broker's --heartbeat, seconds")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of heartbeats only")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of load")
    parser.add_argument("--cold-us", type=int, default=0, help="a servant answers a query unlike the one it ran "
                        "last this many microseconds late (a cold run), the others at once; 0 (default): all at once")
    parser.add_argument("--groups", type=int, default=0, help="servant i serves only the function f(i mod GROUPS) "
                        "and every query calls f0: the other groups' servants stay free while f0's queries wait "
                        "(dispatch by function with one busy function); 0 (default): every servant serves every function")
    parser.add_argument("--symbols", type=int, default=0, help="routing strings the queries cycle through "
                        "(`echo `s0`, `echo `s1`, ...); 0 (default): every query is `echo 1`")
    arguments = parser.parse_args()
    if arguments.serve:
        serve(*arguments.serve)
        return
    if arguments.mserve is None:
        arguments.mserve = default_mserve()
        if arguments.mserve is None:
            parser.error("no mserve found (.build/release/mserve or bin/mserve beside bench/, or on PATH): "
                         "build it with `swift build -c release`, or give --mserve PATH")
    elif not (os.path.isfile(arguments.mserve) and os.access(arguments.mserve, os.X_OK)):
        parser.error("--mserve %s: no such executable file" % arguments.mserve)

    function = "f0" if arguments.groups > 0 else "echo"
    print("| servants | idle broker CPU (heartbeats only) | per heartbeat (PING + PONG) | queries/s "
          "| broker CPU µs per query | less the heartbeats' share |")
    print("|---|---|---|---|---|---|")
    for count in [int(n) for n in arguments.servants.split(",")]:
        helper = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(arguments.base_port), str(count), "1", str(arguments.cold_us), str(arguments.groups)],
            stdout=subprocess.PIPE, text=True)
        broker = None
        try:
            if helper.stdout.readline().strip() != "ready":
                raise SystemExit("the servant helper did not start (a port from %d to %d in use?)" % (
                    arguments.base_port, arguments.base_port + count - 1))
            endpoints = ",".join("tcp://127.0.0.1:%d" % (arguments.base_port + i) for i in range(count))
            environment = dict(os.environ, MSERVE_SERVANTS=endpoints, MSERVE_ALGO=arguments.algorithm)
            broker = subprocess.Popen(
                [arguments.mserve, "broker", "--clients", "tcp://127.0.0.1:0", "--heartbeat", str(arguments.heartbeat)],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=environment, text=True)
            endpoint = broker.stdout.readline().strip()
            time.sleep(2.0 + count / 500)  # every servant greeted and ready
            before = broker_cpu_ticks(broker.pid)
            time.sleep(arguments.idle)
            idle = (broker_cpu_ticks(broker.pid) - before) / TICKS / arguments.idle
            drive(endpoint, arguments.clients, arguments.in_flight, 0.5, arguments.symbols, function)  # warm-up
            before = broker_cpu_ticks(broker.pid)
            answered = drive(endpoint, arguments.clients, arguments.in_flight, arguments.duration, arguments.symbols, function)
            busy = (broker_cpu_ticks(broker.pid) - before) / TICKS
            heartbeats_per_second = count / arguments.heartbeat
            per_query = 1e6 * busy / max(1, answered)
            print("| %d | %.1f %% of a core | %.1f µs | %.0f | %.1f | %.1f |" % (
                count, 100 * idle, 1e6 * idle / heartbeats_per_second, answered / arguments.duration, per_query,
                per_query - 1e6 * idle * arguments.duration / max(1, answered)), flush=True)
        finally:
            for process in (broker, helper):
                if process is not None:
                    process.terminate()
                    process.wait()


if __name__ == "__main__":
    main()
