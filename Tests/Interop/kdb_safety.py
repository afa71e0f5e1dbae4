"""Abuses an MServe broker's kdb+ IPC door, then checks that a well-behaved client is still
served. Plain sockets only (no libraries).

Usage: kdb_safety.py HOST PORT CASE, CASE one of forged-length, truncated, garbage, huge,
non-reader, crowd (the door run with --kdb-max-connections 3), hog (the door run with
--kdb-max-connections 8: one loopback address, 127.0.0.2, opens 40 connections; a client from
127.0.0.3 must still be served), idle (the door run with --kdb-idle-timeout 1: a logged-in
client that goes quiet is disconnected). Prints "all checks passed" or fails.
"""
import select
import socket
import struct
import sys
import time

host, port, case = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def connect(handshake=b"safety:\x03\x00", source=None):
    connection = socket.create_connection((host, port), timeout=30, source_address=(source, 0) if source else None)
    connection.sendall(handshake)
    return connection


def login(source=None):
    connection = connect(source=source)
    assert connection.recv(1) == b"\x03", "no capability byte"
    return connection


def message(payload, message_type=1):
    return struct.pack("<BBBBI", 1, message_type, 0, 0, 8 + len(payload)) + payload


def char_vector(text):
    return struct.pack("<bBI", 10, 0, len(text)) + text


def echo_query(size, identifier):
    # (id; (`echo; size#0x00)): the reply carries size bytes back.
    query = struct.pack("<bBI", 0, 0, 2) + b"\xf5echo\x00" + struct.pack("<bBI", 4, 0, size) + bytes(size)
    return message(struct.pack("<bBI", 0, 0, 2) + struct.pack("<bq", -7, identifier) + query, 0)


def receive_exactly(connection, count):
    data = b""
    while len(data) < count:
        chunk = connection.recv(count - len(data))
        assert chunk, "the connection closed early"
        data += chunk
    return data


def closed_by_peer(connection, within=10):
    """Reads (and discards) until the peer closes; False if it stays open."""
    connection.settimeout(within)
    try:
        while connection.recv(1 << 20):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def healthy_client_served(source=None):
    connection = login(source)
    connection.sendall(message(char_vector(b"proc1 `IBM")))
    header = receive_exactly(connection, 8)
    endianness, message_type, _, _, length = struct.unpack("<BBBBI", header)
    assert (endianness, message_type) == (1, 2), header
    body = receive_exactly(connection, length - 8)
    assert body[0] == 98, f"expected a table, got type {body[0]}"
    connection.close()


bystander = login()  # connected all along: must be unharmed
if case == "idle":
    bystander.close()
if case == "forged-length":
    attacker = login()
    attacker.sendall(struct.pack("<BBBBI", 1, 1, 0, 0, 3) + b"\x00" * 16)
    assert closed_by_peer(attacker), "a forged length did not close the connection"
elif case == "truncated":
    attacker = login()
    whole = message(char_vector(b"proc1 `IBM"))
    attacker.sendall(whole[: len(whole) // 2])
    time.sleep(0.3)
    attacker.close()
elif case == "garbage":
    attacker = connect(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert closed_by_peer(attacker), "garbage before the handshake did not close the connection"
elif case == "long-handshake":
    # At most 1024 bytes, the NUL included: 1024 logs in; 1025, whole or in two writes, closes.
    longest = connect(b"u" * 1022 + b"\x03\x00")
    assert longest.recv(1) == b"\x03", "a 1024-byte handshake was refused"
    longest.close()
    attacker = connect(b"u" * 1023 + b"\x03\x00")
    assert closed_by_peer(attacker), "a 1025-byte handshake was answered"
    attacker = connect(b"u" * 1020)
    time.sleep(0.2)
    attacker.sendall(b"u" * 100 + b"\x03\x00")
    assert closed_by_peer(attacker), "a 1122-byte handshake sent in two writes was answered"
elif case == "huge":
    attacker = login()
    size = 100 << 20
    attacker.sendall(struct.pack("<BBBBI", 1, 1, 0, 0, size))
    try:
        chunk = bytes(1 << 20)
        for _ in range(100):
            attacker.sendall(chunk)
    except (ConnectionResetError, BrokenPipeError):
        pass
    assert closed_by_peer(attacker), "a 100 MB message did not close the connection"
elif case == "non-reader":
    attacker = socket.socket()
    attacker.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    attacker.settimeout(10)
    attacker.connect((host, port))
    attacker.sendall(b"safety:\x03\x00")
    assert attacker.recv(1) == b"\x03"
    try:
        for identifier in range(24):
            attacker.sendall(echo_query(256 << 10, identifier))
    except (ConnectionResetError, BrokenPipeError):
        pass
    # Wait for the broker to hang up without reading a byte (reading would relieve it).
    poller = select.poll()
    poller.register(attacker, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
    assert poller.poll(60_000), "a client that never reads was not disconnected"
elif case == "crowd":
    # The bystander and two more fill the door; the next is closed before its handshake.
    crowd = [login(), login()]
    refused = connect()
    refused.settimeout(10)
    try:
        answer = refused.recv(1)
    except ConnectionResetError:
        answer = b""
    assert answer == b"", f"a connection over the limit was let in ({answer!r})"
    for connection in crowd:
        connection.close()
    # Once the crowd has gone, the door takes new clients again.
    deadline = time.time() + 10
    while True:
        try:
            login().close()
            break
        except (AssertionError, ConnectionResetError, BrokenPipeError):
            assert time.time() < deadline, "the door stayed full after its clients left"
            time.sleep(0.05)
elif case == "hog":
    # One address opens many connections (some finish the handshake, most never do) and keeps
    # them; another address's client must still get in and be served.
    hog = []
    for index in range(40):
        try:
            hog.append(connect(b"safety:\x03\x00" if index % 2 else b"", source="127.0.0.2"))
        except OSError:
            pass
    time.sleep(0.5)  # let the broker accept (or refuse) them all
    healthy_client_served(source="127.0.0.3")
    for connection in hog:
        connection.close()
elif case == "idle":
    quiet = login()
    quiet.sendall(message(char_vector(b"proc1 `IBM")))
    header = receive_exactly(quiet, 8)
    receive_exactly(quiet, struct.unpack("<I", header[4:])[0] - 8)
    assert closed_by_peer(quiet, within=20), "an idle connection was not closed (--kdb-idle-timeout)"
    healthy_client_served()
    print("all checks passed")
    sys.exit(0)
else:
    raise SystemExit(f"unknown case {case}")

healthy_client_served()
bystander.sendall(message(char_vector(b"proc1 `IBM")))
header = receive_exactly(bystander, 8)
assert header[1] == 2, header
receive_exactly(bystander, struct.unpack("<I", header[4:])[0] - 8)
print("all checks passed")
