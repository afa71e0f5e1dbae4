"""A q servant stand-in: a kdb+ IPC server that answers the broker as a q servant.q does.

Usage: kdb_servant.py PORT [--user USER:PASSWORD] [--hold]

Listens on 127.0.0.1:PORT (0: any free port) and prints the port on its first line. Does the
kdb+ handshake (refusing other credentials when --user is given, as q -u does), reads async
`(id; query)` messages (pykx's reader) and answers each with the async `(id; result)`
(kola's writer), as `neg[.z.w](id; result)` in q would. Functions:

- proc1 `SYM: a small trades table (time, sym, price, size) for SYM;
- total1 `SYM: the total size, a long, so `(id; result)` is the long vector q would send;
- info1 `SYM: `(id; result; info)`, with the servant's own info dictionary;
- drop1 `SYM: no answer, as when a q handler fails;
- big1 N: the async `(id; N characters)`, uncompressed;
- zbig1 N: a compressed message announcing N bytes once decompressed (its body is not a
  real compressed value: a broker must refuse it by its header, not decompress it);
- anything else: `(id; 'error)`.

With --hold, queries are read and announced on standard output ("holding ID") but never
answered: the servant is busy forever, for tests that kill it mid-query.
"""
import datetime
import socket
import struct
import sys
import threading

import kola
import polars
import pykx as kx

port = int(sys.argv[1])
credentials = sys.argv[sys.argv.index("--user") + 1].encode() if "--user" in sys.argv else None
hold = "--hold" in sys.argv
printing = threading.Lock()


def say(text):
    with printing:
        print(text, flush=True)


def trades(sym):
    start = datetime.datetime(2025, 1, 31, 9, 30)
    return polars.DataFrame({
        "time": polars.Series([start + datetime.timedelta(seconds=i) for i in range(3)]).cast(polars.Datetime("ns")),
        "sym": polars.Series([sym] * 3, dtype=polars.Categorical),
        "price": [91.88, 90.54, 91.46],
        "size": [4900, 300, 4600],
    })


def parse(query):
    """The parse tree the broker sends, (`proc1; enlist `IBM), -> ("proc1", "IBM"), as q's
    `value` would read it: a quoted argument is a one-item list."""
    if isinstance(query, bytes):
        raise ValueError(f"a query came as text, not as a parse tree: {query!r}")
    argument = query[1] if len(query) > 1 else ""
    if isinstance(argument, list) and len(argument) == 1:
        argument = argument[0]
    return str(query[0]), str(argument)


def error_reply(tag, text):
    """The async `(tag; 'text)`: how a servant.q reports a query that failed."""
    payload = struct.pack("<bbi", 0, 0, 2) + struct.pack("<bq", -7, tag) + struct.pack("<b", -128)
    payload += text.encode() + b"\x00"
    return struct.pack("<bbhi", 1, 0, 0, 8 + len(payload)) + payload


def long_pair(tag, value):
    """The async message `tag value`: q sends (tag; result) as a long vector when both are longs."""
    return struct.pack("<bbhi", 1, 0, 0, 8 + 6 + 16) + struct.pack("<bbi", 7, 0, 2) + struct.pack("<qq", tag, value)


def answer(tag, query):
    try:
        function, sym = parse(query)
    except ValueError as error:
        return error_reply(tag, str(error))
    if function == "proc1":
        return bytes(kola.serialize_as_ipc_bytes6("async", False, [tag, trades(sym)]))
    if function == "total1":
        return long_pair(tag, int(trades(sym)["size"].sum()))
    if function == "drop1":
        return b""
    if function == "big1":
        count = int(sym)
        payload = struct.pack("<bbi", 0, 0, 2) + struct.pack("<bq", -7, tag) + struct.pack("<bbi", 10, 0, count)
        payload += b"x" * count
        return struct.pack("<bbhi", 1, 0, 0, 8 + len(payload)) + payload
    if function == "zbig1":
        body = struct.pack("<i", int(sym)) + b"\x00" * 64
        return struct.pack("<bbbbi", 1, 0, 1, 0, 8 + len(body)) + body
    if function == "info1":
        info = {"servantName": "pyservant", "rows": 3}
        return bytes(kola.serialize_as_ipc_bytes6("async", False, [tag, trades(sym), info]))
    return error_reply(tag, f"{function}: no such function")


def read_exactly(connection, count):
    data = b""
    while len(data) < count:
        chunk = connection.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def serve(connection):
    try:
        login = b""
        while not login.endswith(b"\x00"):
            chunk = connection.recv(1)
            if not chunk:
                return
            login += chunk
        given = login[:-1].rstrip(bytes(range(1, 32)))
        if credentials is not None and given != credentials:
            return  # q refuses by closing
        connection.sendall(bytes([3]))
        while True:
            header = read_exactly(connection, 8)
            length = struct.unpack("<i", header[4:8])[0]
            message = header + read_exactly(connection, length - 8)
            tag, query = kx.deserialize(message).py()
            if hold:
                say(f"holding {tag}")
                continue
            connection.sendall(answer(tag, query))
    except (ConnectionError, OSError):
        pass
    finally:
        connection.close()


listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen(16)
say(listener.getsockname()[1])
while True:
    accepted, _ = listener.accept()
    threading.Thread(target=serve, args=(accepted,), daemon=True).start()
