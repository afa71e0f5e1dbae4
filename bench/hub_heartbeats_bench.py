#!/usr/bin/env python3
"""Hub CPU per heartbeat: a real `mserve hub` in a directory of its own, N spokes registered
with it over ZeroMQ (docs/HUB.md: REGISTER, then a HEARTBEAT with memory stats once a second
each, as `mserve servant` sends them), and the hub's CPU over the run.

CPU is user + system time of the hub process from /proc/PID/stat (clock ticks, 10 ms).
A bench helper, not a product feature. Needs pyzmq (the virtualenv scripts/setup makes).

    ~/.cache/mserve/venv/bin/python bench/hub_heartbeats_bench.py --spokes 300 --duration 20

The hub is `--mserve PATH`; by default the package's release build (.build/release/mserve
beside bench/), else bin/mserve beside bench/, else `mserve` on PATH.
"""
import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import uuid

import zmq

TICKS = os.sysconf("SC_CLK_TCK")


def q_atom(value):
    """A q atom: an int is a long, a str a symbol."""
    if isinstance(value, int):
        return b"\xf9" + struct.pack("<q", value)
    return b"\xf5" + value.encode() + b"\0"


def q_dictionary(entries):
    """A dictionary of symbol keys to atoms, as a q IPC message."""
    keys = list(entries)
    values = b"".join(q_atom(entries[key]) for key in keys)
    body = (b"\x63\x0b\x00" + struct.pack("<I", len(keys)) + b"".join(key.encode() + b"\0" for key in keys)
            + b"\x00\x00" + struct.pack("<I", len(keys)) + values)
    return struct.pack("<BBBBI", 1, 0, 0, 0, len(body) + 8) + body


def registration(session, port):
    return q_dictionary({
        "pid": os.getpid(), "port": port, "host": "bench", "user": "bench", "X": "hub heartbeat bench", "dir": "/tmp",
        "service": "bench", "role": "servant", "endpoint": "tcp://127.0.0.1:%d" % port, "session": session})


def cpu_seconds(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def default_mserve():
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (os.path.join(here, "..", ".build", "release", "mserve"), os.path.join(here, "..", "bin", "mserve")):
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.normpath(candidate)
    return shutil.which("mserve")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spokes", type=int, default=300)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of heartbeats")
    parser.add_argument("--port", type=int, default=61400, help="the hub's port on 127.0.0.1")
    parser.add_argument("--mserve", help="the mserve binary (default: .build/release/mserve, else bin/mserve, "
                        "beside bench/; else mserve on PATH)")
    arguments = parser.parse_args()
    mserve = arguments.mserve or default_mserve()
    if mserve is None:
        parser.error("no mserve found: build it with `swift build -c release`, or give --mserve PATH")
    endpoint = "tcp://127.0.0.1:%d" % arguments.port
    with tempfile.TemporaryDirectory(prefix="mserve-hub-bench-") as directory:
        hub = subprocess.Popen([mserve, "hub", "--bind", endpoint, "--dir", directory + "/hub"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        context = zmq.Context()
        context.set(zmq.MAX_SOCKETS, arguments.spokes + 64)
        sockets = []
        try:
            time.sleep(1.5)
            for index in range(arguments.spokes):
                socket = context.socket(zmq.DEALER)
                socket.setsockopt(zmq.LINGER, 0)
                session = "bench-%d-%s" % (index, uuid.uuid4().hex[:8])
                socket.setsockopt(zmq.ROUTING_ID, ("spoke-" + session).encode())
                socket.connect(endpoint)
                socket.send_multipart([b"MSH1", b"REGISTER", registration(session, 20000 + index)])
                sockets.append(socket)
            registered = sum(1 for s in sockets if s.poll(10000) and s.recv_multipart()[1] == b"REGISTERED")
            if registered != arguments.spokes:
                sys.exit("only %d of %d spokes registered" % (registered, arguments.spokes))
            heartbeat = q_dictionary({"used": 1 << 20, "heap": 2 << 20, "peak": 3 << 20, "rss": 4 << 20})
            time.sleep(1)
            start, began, sent = cpu_seconds(hub.pid), time.time(), 0
            while time.time() - began < arguments.duration:
                tick = time.time()
                for socket in sockets:
                    socket.send_multipart([b"MSH1", b"HEARTBEAT", heartbeat])
                    sent += 1
                    while socket.poll(0):
                        socket.recv_multipart()
                time.sleep(max(0.0, 1.0 - (time.time() - tick)))
            used, elapsed = cpu_seconds(hub.pid) - start, time.time() - began
            print("| spokes | heartbeats | hub CPU, % of a core | hub CPU per heartbeat |")
            print("|---|---|---|---|")
            print("| %d | %d in %.1f s | %.1f %% | %.0f µs |" % (
                arguments.spokes, sent, elapsed, 100 * used / elapsed, 1e6 * used / sent))
        finally:
            for socket in sockets:
                socket.close()
            context.term()
            hub.terminate()
            hub.wait()


if __name__ == "__main__":
    main()
