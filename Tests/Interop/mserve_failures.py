"""What the failure-path interop scripts share: the error paths, how to provoke each against a
cluster started by `swift test --filter KdbDoorTests` (one servant of 4 threads; broker with
--deadline 2 --queue-capacity 1 --redispatch 0 and a kdb+ door; for the reply too large, an
in-process cluster whose broker takes messages of 32 KiB at most), and a raw kdb+ IPC connection
for what no client library sends (a malformed message, queries that keep the servant busy).

Plain Python: imported by the pykx, kola and qpython scripts alike (qpython lives in its own
virtualenv without pykx).
"""
import os
import socket
import struct
import threading
import time

# Each error path: the query a library sends (None: provoked otherwise), and a fragment of the
# error text the client must receive.
PATHS = {
    "refused": ('system "ls"', "mserve: refused"),
    "unknown function": ("nosuch 1", "nosuch"),
    "servant error": ('fail "boom"', "boom"),
    "queue full": ("proc1 `IBM", "mserve: queue full"),
    "deadline": ("sleep 2500", "mserve: deadline exceeded"),
    "servant lost": ("sleep 5000", "was lost"),
    # Run alone (the scripts' `reply-too-large` mode) against a broker whose largest message is
    # smaller than the result of `big[]`: the servant answers with this error instead.
    "reply too large": ("big[]", "-byte message limit"),
}
TOO_LARGE_MODE = "reply-too-large"
MALFORMED = "mserve: malformed"
INFO_KEYS = ["routing", "servant", "elapsed", "execution", "queued", "received", "error"]


def text_of(value):
    """A q string as decoded by any library (bytes, str, numpy bytes) as Python text."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode()
    if hasattr(value, "tobytes"):
        return value.tobytes().decode()
    return str(value)


def check_failure(where, items, expected_id, fragment):
    """Checks a decoded `(id; "text"; info)`: the id intact, the text twice, the info's keys."""
    items = list(items)
    assert len(items) == 3, (where, items)
    assert items[0] == expected_id, (where, "id", items[0], expected_id)
    text = text_of(items[1])
    assert fragment in text, (where, text, fragment)
    # Keys as str, bytes or numpy bytes, whatever the library gives.
    info = {text_of(key): value for key, value in items[2].items()}
    assert list(info) == INFO_KEYS, (where, list(info))
    assert text_of(info["error"]) == text, (where, "info error", info)
    print("ok   %s: %s" % (where, text))
    return info


def check_error_text(where, error, fragment):
    """A sync bare query's failure: the library raised the q error with the text."""
    text = str(error)
    assert fragment in text, (where, text, fragment)
    print("ok   %s raised: %s" % (where, text))


def encode(value_payload, message_type):
    """A kdb+ IPC message around an already serialized payload."""
    return struct.pack("<BBBBi", 1, message_type, 0, 0, 8 + len(value_payload)) + value_payload


def string_payload(text):
    data = text.encode()
    return struct.pack("<bBi", 10, 0, len(data)) + data


def id_and_query_payload(query_id, text):
    return struct.pack("<bBi", 0, 0, 2) + struct.pack("<bq", -7, query_id) + string_payload(text)


class RawDoor:
    """A kdb+ IPC connection by hand: the handshake, messages out, messages in."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=20)
        self.sock.sendall(b"raw\x03\x00")
        assert self.sock.recv(1) == b"\x03"

    def send(self, message):
        self.sock.sendall(message)

    def receive(self):
        header = self._exactly(8)
        (length,) = struct.unpack_from("<i", header, 4)
        return header + self._exactly(length - 8)

    def _exactly(self, count):
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("the door closed the connection")
            data += chunk
        return data

    def close(self):
        self.sock.close()


# A sync and an async message whose payload is cut short: a general list of two items whose
# first, a long, stops after its type byte.
MALFORMED_SYNC = encode(b"\x00\x00\x02\x00\x00\x00\xf9", 1)
MALFORMED_ASYNC = encode(b"\x00\x00\x02\x00\x00\x00\xf9", 0)


def occupy_servant(host, port, running=5):
    """Keeps the servant's 4 threads busy and its 1-place queue full for 1.5 s, from a
    connection of its own (their deadline errors go there): the next query finds the queue full."""
    door = RawDoor(host, port)
    for index in range(running):
        door.send(encode(id_and_query_payload(9000 + index, "sleep 1500"), 0))
    time.sleep(0.5)
    return door


def wait_until_free(door):
    """Lets the queries of `occupy_servant` end, so the servant is free again."""
    time.sleep(2.0)
    door.close()


def kill_servant_soon(pid, delay=1.0):
    """Kills the servant (its pid from `pid[]`) while it runs the queries just sent: a second
    for them to reach it, and a second (of the broker's 2 s deadline) for the broker to find it
    gone, however loaded the machine (0.7 s of a 1 s deadline, with the setup of the other
    connections before, once left the first query past its deadline instead)."""
    timer = threading.Timer(delay, os.kill, (pid, 9))
    timer.start()
    return timer
