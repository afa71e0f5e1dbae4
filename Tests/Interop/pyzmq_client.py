"""Drives an MServe broker from Python with pyzmq, using only docs/PROTOCOL.md.

Usage: python pyzmq_client.py tcp://127.0.0.1:PORT
Sends (1234; "proc1 `IBM") from a DEALER, and the same from a REQ socket, checks each
reply is (id; result; info) with the documented info keys and types, then sends garbage and
a failing query and checks the documented failure (id; "text"; info), `error` in the info. Prints one line per check; exits 1 on a failure.
"""
import struct
import sys

import zmq


def encode_query(query_id, text):
    """(id; query) as an async kdb+ IPC message: a general list of a long and a string."""
    data = text.encode()
    payload = struct.pack("<bBi", 0, 0, 2)                       # general list, 2 items
    payload += struct.pack("<bq", -7, query_id)                  # long atom
    payload += struct.pack("<bBi", 10, 0, len(data)) + data      # char vector
    return struct.pack("<BBBBi", 1, 0, 0, 0, 8 + len(payload)) + payload


class Reader:
    """A small reader for the q types the demo servant returns."""

    ATOMS = {-1: ("?", 1), -4: ("B", 1), -5: ("h", 2), -6: ("i", 4), -7: ("q", 8), -8: ("f", 4),
             -9: ("d", 8), -12: ("q", 8), -13: ("i", 4), -14: ("i", 4), -15: ("d", 8),
             -16: ("q", 8), -17: ("i", 4), -18: ("i", 4), -19: ("i", 4)}

    def __init__(self, data):
        if data[0] != 1:
            raise ValueError("expected a little-endian message")
        (length,) = struct.unpack_from("<i", data, 4)
        if length != len(data):
            raise ValueError("length mismatch")
        self.data, self.pos = data, 8

    def take(self, fmt):
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def symbol(self):
        end = self.data.index(0, self.pos)
        text = self.data[self.pos:end].decode()
        self.pos = end + 1
        return text

    def value(self):
        (kind,) = self.take("b")
        if kind == -128:
            return ("error", self.symbol())
        if kind == -11:
            return ("symbol", self.symbol())
        if kind in self.ATOMS:
            fmt, _ = self.ATOMS[kind]
            return (kind, self.take(fmt)[0])
        if kind == 101:
            self.take("b")
            return ("identity", None)
        if kind == 0:
            _, count = self.take("bi")
            return [self.value() for _ in range(count)]
        if kind == 11:
            _, count = self.take("bi")
            return [self.symbol() for _ in range(count)]
        if kind == 10:
            _, count = self.take("bi")
            text = self.data[self.pos:self.pos + count].decode()
            self.pos += count
            return text
        if 1 <= kind <= 19:
            _, count = self.take("bi")
            fmt = self.ATOMS[-kind][0]
            return list(self.take(fmt * count))
        if kind == 99:
            keys, values = self.value(), self.value()
            return dict(zip(keys, values))
        if kind == 98:
            self.take("b")
            return ("table", self.value())
        raise ValueError("type %d not handled by this small reader" % kind)


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        sys.exit(1)


def check_reply(reply, expected_id):
    check(isinstance(reply, list) and len(reply) == 3, "reply is (id; result; info)")
    check(reply[0] == (-7, expected_id), "id echoed")
    kind, columns = reply[1]
    check(kind == "table" and list(columns) == ["time", "sym", "price", "size"], "result is the trade table")
    check(columns["sym"] == ["IBM"] * 5, "five IBM rows")
    info = reply[2]
    check(list(info) == ["routing", "servant", "elapsed", "execution", "queued", "received"], "info keys")
    check(info["routing"] == ("symbol", "IBM"), "routing is `IBM")
    check(info["servant"][0] == "symbol" and ":" in info["servant"][1], "servant is host:port")
    check(all(info[k][0] == -16 for k in ("elapsed", "execution", "queued")), "timings are timespans")
    check(info["received"][0] == -12, "received is a timestamp")


def main(endpoint):
    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.RCVTIMEO, 10000)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(endpoint)
    dealer.send(encode_query(1234, "proc1 `IBM"))
    check_reply(Reader(dealer.recv()).value(), 1234)

    req = context.socket(zmq.REQ)
    req.setsockopt(zmq.RCVTIMEO, 10000)
    req.setsockopt(zmq.LINGER, 0)
    req.connect(endpoint)
    req.send(encode_query(99, "proc1[`IBM]"))
    check_reply(Reader(req.recv()).value(), 99)

    dealer.send(b"not a kdb+ message")
    reply = Reader(dealer.recv()).value()
    check(reply[0] == ("identity", None), "malformed message: id is ::")
    check(isinstance(reply[1], str) and reply[1].startswith("mserve: malformed"), "malformed message: error text")
    check(list(reply[2])[-1] == "error" and reply[2]["error"] == reply[1], "malformed message: info's error entry")

    dealer.send(encode_query(7, 'fail "boom"'))
    reply = Reader(dealer.recv()).value()
    check(reply[0] == (-7, 7) and reply[1] == "boom", "servant error: (7; \"boom\"; info)")
    check(list(reply[2]) == ["routing", "servant", "elapsed", "execution", "queued", "received", "error"],
          "servant error: info keys, error last")
    check(reply[2]["error"] == "boom", "servant error: info's error entry")
    dealer.close()
    req.close()
    context.term()
    print("pyzmq interop: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
