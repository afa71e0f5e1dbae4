"""Talks to an MServe broker's kdb+ IPC door with qpython (sendAsync, then receive).

Usage: kdb_qpython_client.py HOST PORT [USER PASSWORD]. Prints "all checks passed" or fails.
qpython 2.0.0 needs numpy<1.24: run it from its own virtualenv.
"""
import sys

import numpy
from qpython import qconnection
from qpython.qcollection import QDictionary, QTable
from qpython.qtype import QException

host, port = sys.argv[1], int(sys.argv[2])
user, password = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else (None, None)
INFO_TYPES = {
    "routing": numpy.bytes_, "servant": numpy.bytes_, "elapsed": numpy.timedelta64,
    "execution": numpy.timedelta64, "queued": numpy.timedelta64, "received": numpy.datetime64,
}


def check_table(table):
    assert isinstance(table, QTable), type(table)
    assert list(table.dtype.names) == ["time", "sym", "price", "size"], table.dtype.names
    assert len(table) == 5, len(table)
    assert set(table["sym"]) == {b"IBM"}, table["sym"]
    assert (table["price"] > 0).all()


def check_info(info):
    assert isinstance(info, QDictionary), type(info)
    entries = {key.decode(): value for key, value in info.items()}
    for key, kind in INFO_TYPES.items():
        value = entries[key]
        assert isinstance(getattr(value, "raw", value), kind), (key, type(value))
    assert entries["routing"] == b"IBM", entries["routing"]


with qconnection.QConnection(host=host, port=port, username=user, password=password, numpy_temporals=True) as q:
    # sendAsync (id; query), then receive the async (id; result; info).
    q.sendAsync([numpy.int64(1234), "proc1 `IBM"])
    message = q.receive(data_only=False, raw=False)
    assert message.type == qconnection.MessageType.ASYNC, message.type
    reply = message.data
    assert len(reply) == 3, reply
    assert reply[0] == 1234, reply[0]
    check_table(reply[1])
    check_info(reply[2])

    # sendSync of a bare query: the table.
    check_table(q.sendSync("proc1 `IBM"))

    # A refused query is a q error.
    try:
        q.sendSync("nosuch 1")
        raise AssertionError("a refused query returned a value")
    except QException as error:
        assert str(error)

print("all checks passed")
