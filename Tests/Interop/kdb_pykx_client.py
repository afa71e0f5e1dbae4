"""Talks to an MServe broker's kdb+ IPC door with pykx, as a q shop's Python would.

Usage: kdb_pykx_client.py HOST PORT [USER PASSWORD]. Prints "all checks passed" or fails.
"""
import sys

import pykx as kx

host, port = sys.argv[1], int(sys.argv[2])
credentials = {"username": sys.argv[3], "password": sys.argv[4]} if len(sys.argv) > 4 else {}
import datetime

# Unlicensed pykx cannot index into q objects: lists are converted with .py(), which turns
# a table into a dict of columns, a timespan into a timedelta and a timestamp into a datetime.
INFO_TYPES = {
    "routing": str, "servant": str, "elapsed": datetime.timedelta,
    "execution": datetime.timedelta, "queued": datetime.timedelta, "received": datetime.datetime,
}


def check_table(table):
    if isinstance(table, kx.Table):
        table = table.py()
    assert isinstance(table, dict), type(table)
    assert list(table) == ["time", "sym", "price", "size"], list(table)
    assert len(table["sym"]) == 5, len(table["sym"])
    assert set(table["sym"]) == {"IBM"}, table["sym"]
    assert all(price > 0 for price in table["price"])


def check_info(info):
    assert isinstance(info, dict), type(info)
    for key, kind in INFO_TYPES.items():
        assert isinstance(info[key], kind), (key, type(info[key]))
    assert info["routing"] == "IBM", info["routing"]
    assert ":" in info["servant"]


def check_reply(reply, expected_id):
    assert isinstance(reply, kx.List), type(reply)
    items = reply.py()
    assert len(items) == 3, items
    assert items[0] == expected_id, items[0]
    check_table(items[1])
    check_info(items[2])


connection = kx.SyncQConnection(host, port, no_ctx=True, **credentials)

# A sync bare query: the result alone, as from a q process.
table_reply = connection(b"proc1 `IBM")
assert isinstance(table_reply, kx.Table), type(table_reply)
check_table(table_reply)
# The same as a parse form.
check_table(connection(kx.toq([kx.SymbolAtom("proc1"), kx.SymbolAtom("IBM")])))

# The broker's own functions answer over the door too (two servants, the default algorithm;
# the two queries above answered).
status = connection(b".mserve.status[]").py()
assert status["servantsKnown"] == 2, status
assert status["algorithm"] == "match", status
assert status["answered"] >= 2, status
servants = connection(b".mserve.servants[]")
assert isinstance(servants, kx.Table), type(servants)
servants = servants.py()
assert len(servants["name"]) == 2, servants
assert sum(servants["served"]) >= 2, servants

# A sync (id; query): the response (id; result; info).
check_reply(connection(kx.LongAtom(7), b"proc1 `IBM"), 7)

# The mserve protocol: async (id; query), then the async (id; result; info), read the public
# pykx ways (docs/KDB.md, "Async replies with pykx").
import asyncio


async def raw_connection_replies():
    """RawQConnection: queue, poll_send, poll_recv until the futures are done. Each future
    takes the next message that arrives, so replies are matched by their id."""
    raw = await kx.RawQConnection(host, port, no_ctx=True, **credentials)
    futures = [raw(kx.LongAtom(query_id), b"proc1 `IBM", wait=False) for query_id in (1234, 1235)]
    raw.poll_send(0)
    while not all(future.done() for future in futures):
        raw.poll_recv()
        await asyncio.sleep(0)
    replies = {}
    for future in futures:
        reply = await future
        replies[reply.py()[0]] = reply
    await raw.close()
    return replies


replies = asyncio.run(raw_connection_replies())
check_reply(replies[1234], 1234)
check_reply(replies[1235], 1235)


async def async_connection_reply():
    """AsyncQConnection: reuse=False, async_response=True (a connection per query)."""
    conn = await kx.AsyncQConnection(host, port, no_ctx=True, **credentials)
    sent = await conn(kx.LongAtom(77), b"proc1 `IBM", wait=False, reuse=False, async_response=True)
    reply = await sent
    await conn.close()
    return reply


check_reply(asyncio.run(async_connection_reply()), 77)

# A call in parse form whose one argument is a string: ("echo"; "proc1 `IBM") calls echo.
assert connection("echo", kx.CharVector("proc1 `IBM")).py() == b"proc1 `IBM"

# q's own call idiom: q sends h(`proc1;`IBM) as the symbol vector `proc1`IBM, which the door
# reads as that call, bare and as the query of (id; query).
check_table(connection(kx.SymbolVector(["proc1", "IBM"])))
check_reply(connection(kx.LongAtom(8), kx.SymbolVector(["proc1", "IBM"])), 8)

# A list whose first item cannot name a function is (id; query; options) whatever its other
# items: options that are no dictionary are refused with the client's id, as over ZeroMQ.
refused = connection(kx.LongAtom(42), b"proc1 `IBM", None).py()
assert refused[0] == 42, refused
assert b"must be a dictionary" in refused[2]["error"], refused[2]

# A refused query is a q error.
try:
    connection(b"system \"ls\"")
    raise AssertionError("a refused query returned a value")
except kx.QError as error:
    assert "mserve" in str(error) or "not" in str(error), str(error)

connection.close()
print("all checks passed")
