"""Every failure a query can meet, read by qpython over the kdb+ door: a sync bare query
(qpython raises QException), sync (id; query) and sendAsync (id; query) then receive — the id
and the info dictionary intact; the malformed path sent by a raw connection and its answers
read by qpython's QReader.

Usage: kdb_qpython_failures.py HOST DOOR_PORT ZMQ_ENDPOINT, against the cluster described in
mserve_failures.py. qpython 2.0.0 needs numpy<1.24: run it from its own virtualenv.
"""
import io
import sys
import threading

import numpy
from qpython import qconnection
from qpython.qreader import QReader
from qpython.qtype import QException

from mserve_failures import (MALFORMED, MALFORMED_ASYNC, MALFORMED_SYNC, PATHS, RawDoor,
                             check_error_text, check_failure, kill_servant_soon, occupy_servant,
                             wait_until_free, TOO_LARGE_MODE)

host, port = sys.argv[1], int(sys.argv[2])


def connect():
    q = qconnection.QConnection(host=host, port=port, numpy_temporals=True)
    q.open()
    return q


q = connect()


def sync_fails(where, call, fragment):
    try:
        call()
        raise AssertionError("%s: returned a value" % where)
    except QException as error:
        check_error_text(where, error, fragment)


def async_reply(connection, query_id, query):
    connection.sendAsync([numpy.int64(query_id), query])
    return connection.receive(data_only=True)


def door_forms(name, query, fragment, base):
    sync_fails("qpython sendSync, " + name, lambda: q.sendSync(query), fragment)
    check_failure("qpython sendSync (id; query), " + name, q.sendSync([numpy.int64(base), query]), base, fragment)
    check_failure("qpython sendAsync (id; query), " + name, async_reply(q, base + 1, query), base + 1, fragment)


def read(message):
    return QReader(io.BytesIO(message)).read(raw=False).data


if sys.argv[4:] == [TOO_LARGE_MODE]:
    query, fragment = PATHS["reply too large"]
    door_forms("reply too large", query, fragment, 100)
    print("all checks passed")
    sys.exit(0)

raw = RawDoor(host, port)
raw.send(MALFORMED_SYNC)
sync_fails("qpython QReader, malformed sync", lambda: read(raw.receive()), MALFORMED)
raw.send(MALFORMED_ASYNC)
check_failure("qpython QReader, malformed async", read(raw.receive()), None, MALFORMED)
raw.close()

base = 100
for name in ["refused", "unknown function", "servant error"]:
    query, fragment = PATHS[name]
    door_forms(name, query, fragment, base)
    base += 10

query, fragment = PATHS["queue full"]
occupier = occupy_servant(host, port)
door_forms("queue full", query, fragment, base)
wait_until_free(occupier)
base += 10

query, fragment = PATHS["deadline"]
door_forms("deadline", query, fragment, base)
wait_until_free(RawDoor(host, port))
base += 10

pid = int(q.sendSync("pid[]"))
query, fragment = PATHS["servant lost"]
second, third = connect(), connect()
outcome = {}
threads = [
    threading.Thread(target=lambda: outcome.update(listed=second.sendSync([numpy.int64(base), query]))),
    threading.Thread(target=lambda: outcome.update(asynced=async_reply(third, base + 1, query))),
]
for thread in threads:
    thread.start()
kill_servant_soon(pid)
sync_fails("qpython sendSync, servant lost", lambda: q.sendSync(query), fragment)
for thread in threads:
    thread.join(20)
check_failure("qpython sendSync (id; query), servant lost", outcome["listed"], base, fragment)
check_failure("qpython sendAsync (id; query), servant lost", outcome["asynced"], base + 1, fragment)

for connection in (q, second, third):
    connection.close()
print("all checks passed")
