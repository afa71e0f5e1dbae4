"""Every failure a query can meet, read by pykx: over the kdb+ door (sync bare query, sync
(id; query), async (id; query) through pykx's public RawQConnection) and over ZeroMQ (pyzmq,
the bytes decoded by pykx.deserialize), each with its id and info dictionary intact.

Usage: kdb_pykx_failures.py HOST DOOR_PORT ZMQ_ENDPOINT, against the cluster described in
mserve_failures.py. Prints "all checks passed" or fails.
"""
import asyncio
import sys
import threading

import pykx as kx
import zmq

from mserve_failures import (MALFORMED, MALFORMED_ASYNC, MALFORMED_SYNC, PATHS, RawDoor,
                             check_error_text, check_failure, encode, id_and_query_payload,
                             kill_servant_soon, occupy_servant, wait_until_free, TOO_LARGE_MODE)

host, port, endpoint = sys.argv[1], int(sys.argv[2]), sys.argv[3]
conn = kx.SyncQConnection(host, port, no_ctx=True)
context = zmq.Context()
dealer = context.socket(zmq.DEALER)
dealer.setsockopt(zmq.RCVTIMEO, 20000)
dealer.setsockopt(zmq.LINGER, 0)
dealer.connect(endpoint)


def deserialize(message):
    return kx.deserialize(message).py()


async def raw_async(queries):
    """The public pykx way to read async replies: RawQConnection, poll_send, poll_recv; each
    future gets the next message (replies come as queries finish: match them by id)."""
    raw = await kx.RawQConnection(host, port, no_ctx=True)
    futures = [raw(kx.LongAtom(query_id), text.encode(), wait=False) for query_id, text in queries]
    raw.poll_send(0)
    while not all(future.done() for future in futures):
        raw.poll_recv()
        await asyncio.sleep(0)
    replies = {}
    for future in futures:
        items = (await future).py()
        replies[items[0]] = items
    await raw.close()
    return replies


def door_forms(name, query, fragment, base):
    try:
        conn(query.encode())
        raise AssertionError("%s: a sync bare query returned a value" % name)
    except kx.QError as error:
        check_error_text("door sync bare, " + name, error, fragment)
    check_failure("door sync (id; query), " + name, conn(kx.LongAtom(base), query.encode()).py(), base, fragment)
    reply = asyncio.run(raw_async([(base + 1, query)]))[base + 1]
    check_failure("door async (id; query), " + name, reply, base + 1, fragment)


def zmq_form(name, query, fragment, query_id):
    dealer.send(encode(id_and_query_payload(query_id, query), 0))
    check_failure("zmq " + name, deserialize(dealer.recv()), query_id, fragment)


if sys.argv[4:] == [TOO_LARGE_MODE]:
    query, fragment = PATHS["reply too large"]
    door_forms("reply too large", query, fragment, 100)
    zmq_form("reply too large", query, fragment, 102)
    print("all checks passed")
    sys.exit(0)

# Malformed: no library sends one, so a raw connection does; pykx reads the answers.
raw = RawDoor(host, port)
raw.send(MALFORMED_SYNC)
try:
    deserialize(raw.receive())
    raise AssertionError("the malformed sync message was answered with a value")
except kx.QError as error:
    check_error_text("door sync bare, malformed", error, MALFORMED)
raw.send(MALFORMED_ASYNC)
check_failure("door async, malformed", deserialize(raw.receive()), None, MALFORMED)
raw.close()
dealer.send(b"not a kdb+ message")
check_failure("zmq malformed", deserialize(dealer.recv()), None, MALFORMED)

base = 100
for name in ["refused", "unknown function", "servant error"]:
    query, fragment = PATHS[name]
    door_forms(name, query, fragment, base)
    zmq_form(name, query, fragment, base + 2)
    base += 10

query, fragment = PATHS["queue full"]
occupier = occupy_servant(host, port)
door_forms("queue full", query, fragment, base)
zmq_form("queue full", query, fragment, base + 2)
wait_until_free(occupier)
base += 10

query, fragment = PATHS["deadline"]
door_forms("deadline", query, fragment, base)
wait_until_free(RawDoor(host, port))
zmq_form("deadline", query, fragment, base + 2)
wait_until_free(RawDoor(host, port))
base += 10

# The servant lost while it runs a query of every form at once.
pid = int(conn(b"pid[]").py())
query, fragment = PATHS["servant lost"]
dealer.send(encode(id_and_query_payload(base + 2, query), 0))
outcome = {}
async_thread = threading.Thread(target=lambda: outcome.update(asyncio.run(raw_async([(base + 1, query)]))))
async_thread.start()
listed = {}
second = kx.SyncQConnection(host, port, no_ctx=True)
list_thread = threading.Thread(target=lambda: listed.update(reply=second(kx.LongAtom(base), query.encode()).py()))
list_thread.start()
kill_servant_soon(pid)
try:
    conn(query.encode())
    raise AssertionError("servant lost: a sync bare query returned a value")
except kx.QError as error:
    check_error_text("door sync bare, servant lost", error, fragment)
list_thread.join(20)
async_thread.join(20)
check_failure("door sync (id; query), servant lost", listed["reply"], base, fragment)
check_failure("door async (id; query), servant lost", outcome[base + 1], base + 1, fragment)
check_failure("zmq servant lost", deserialize(dealer.recv()), base + 2, fragment)

conn.close()
second.close()
dealer.close()
context.term()
print("all checks passed")
