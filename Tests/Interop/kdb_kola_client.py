"""Talks to an MServe broker's kdb+ IPC door with kola (polars).

Usage: kdb_kola_client.py HOST PORT [USER PASSWORD]. Prints "all checks passed" or fails.
"""
import datetime
import sys

import kola
import polars

host, port = sys.argv[1], int(sys.argv[2])
user, password = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else ("", "")
INFO_TYPES = {
    "routing": str, "servant": str, "elapsed": datetime.timedelta,
    "execution": datetime.timedelta, "queued": datetime.timedelta, "received": datetime.datetime,
}


def check_table(table):
    assert isinstance(table, polars.DataFrame), type(table)
    assert table.columns == ["time", "sym", "price", "size"], table.columns
    assert table.height == 5, table.height
    assert set(table["sym"].cast(str).to_list()) == {"IBM"}
    assert (table["price"] > 0).all()


def check_info(info):
    assert isinstance(info, dict), type(info)
    for key, kind in INFO_TYPES.items():
        assert isinstance(info[key], kind), (key, type(info[key]))
    assert info["routing"] == "IBM", info["routing"]


q = kola.Q(host, port, user, password)
q.connect()

# sync: the result alone.
check_table(q.sync("proc1 `IBM"))
# sync with arguments, q style: ("proc1"; `IBM).
check_table(q.sync("proc1", "IBM"))

# asyn + receive: the async (::; result; info) for a bare query.
q.asyn("proc1 `IBM")
reply = q.receive()
assert reply[0] in (None, ()), reply[0]  # the generic null
check_table(reply[1])
check_info(reply[2])

# A refused query is a q error.
try:
    q.sync("nosuch 1")
    raise AssertionError("a refused query returned a value")
except kola.KolaError as error:
    assert str(error), error

q.disconnect()
print("all checks passed")
