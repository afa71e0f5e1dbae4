"""Every failure a query can meet, read by kola over the kdb+ door: a sync bare query (the
library raises the q error), a sync call in parse form (`sync("fail", b"boom")`), and async
(id; query) with kola's string id, then `receive` — the id and the info dictionary intact.

Usage: kdb_kola_failures.py HOST DOOR_PORT ZMQ_ENDPOINT, against the cluster described in
mserve_failures.py. Prints "all checks passed" or fails. kola sends no malformed message and
has no public decoder for bytes, so the malformed path is read by pykx and qpython only.
"""
import sys
import threading

import kola

from mserve_failures import (PATHS, RawDoor, check_error_text, check_failure,
                             kill_servant_soon, occupy_servant, wait_until_free, TOO_LARGE_MODE)

host, port = sys.argv[1], int(sys.argv[2])


def connect():
    q = kola.Q(host, port, "", "")
    q.connect()
    return q


q = connect()


def sync_fails(where, call, fragment):
    try:
        call()
        raise AssertionError("%s: returned a value" % where)
    except kola.KolaError as error:
        check_error_text(where, error, fragment)


def async_reply(connection, query_id, query):
    connection.asyn(query_id, query.encode())
    return connection.receive()


def door_forms(name, query, fragment, query_id):
    sync_fails("kola sync, " + name, lambda: q.sync(query), fragment)
    check_failure("kola asyn (id; query), " + name, async_reply(q, query_id, query), query_id, fragment)


if sys.argv[4:] == [TOO_LARGE_MODE]:
    query, fragment = PATHS["reply too large"]
    door_forms("reply too large", query, fragment, "q1")
    print("all checks passed")
    sys.exit(0)

for index, name in enumerate(["refused", "unknown function", "servant error"]):
    query, fragment = PATHS[name]
    door_forms(name, query, fragment, "q%d" % index)
# A call in parse form, the function named by a string: ("fail"; "boom").
sync_fails("kola sync call, servant error", lambda: q.sync("fail", b"boom"), "boom")

query, fragment = PATHS["queue full"]
occupier = occupy_servant(host, port)
door_forms("queue full", query, fragment, "q10")
wait_until_free(occupier)

query, fragment = PATHS["deadline"]
door_forms("deadline", query, fragment, "q20")
wait_until_free(RawDoor(host, port))

pid = q.sync("pid[]")
query, fragment = PATHS["servant lost"]
second = connect()
outcome = {}
thread = threading.Thread(target=lambda: outcome.update(reply=async_reply(second, "q30", query)))
thread.start()
kill_servant_soon(int(pid))
sync_fails("kola sync, servant lost", lambda: q.sync(query), fragment)
thread.join(20)
check_failure("kola asyn (id; query), servant lost", outcome["reply"], "q30", fragment)

q.disconnect()
second.disconnect()
print("all checks passed")
