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

# The mserve protocol: async (id; query), then the async (id; result; info).
connection(kx.LongAtom(1234), b"proc1 `IBM", wait=False)
check_reply(connection._recv(acceptAsync=True), 1234)

# A refused query is a q error.
try:
    connection(b"system \"ls\"")
    raise AssertionError("a refused query returned a value")
except kx.QError as error:
    assert "mserve" in str(error) or "not" in str(error), str(error)

connection.close()
print("all checks passed")
