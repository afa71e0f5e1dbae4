"""Per-query options through an MServe broker's kdb+ door, with pykx: (id; query; options).

Usage: kdb_pykx_options.py HOST PORT. The broker runs with its default 60 s deadline and a
servant of the demo API (sleep). Prints "all checks passed" or fails.
"""
import asyncio
import datetime
import sys

import pykx as kx

host, port = sys.argv[1], int(sys.argv[2])


def options(**entries):
    return kx.toq(entries)


def seconds(value):
    return kx.TimespanAtom(datetime.timedelta(seconds=value))


def items(reply):
    assert isinstance(reply, kx.List), type(reply)
    values = reply.py()
    assert len(values) == 3, values
    return values


def failure(reply, expected_id):
    query_id, result, info = items(reply)
    assert query_id == expected_id, query_id
    assert "error" in info, info
    text = info["error"]
    text = text.decode() if isinstance(text, bytes) else text
    result = result.decode() if isinstance(result, bytes) else result
    assert result == text, (result, text)
    return text, info


connection = kx.SyncQConnection(host, port, no_ctx=True)

# Sync (id; query; options): the response (id; result; info), the option obeyed.
query_id, result, info = items(connection(kx.toq([kx.LongAtom(1), kx.CharVector("sleep 10"), options(deadline=seconds(5))])))
assert query_id == 1 and result == 10 and "error" not in info, (query_id, result, info)

# A deadline of half a second for a query of three: answered by the broker after about half a
# second, long before the broker's own minute.
text, info = failure(
    connection(kx.toq([kx.LongAtom(2), kx.CharVector("sleep 3000"), options(deadline=seconds(0.5))])), 2)
assert text.startswith("mserve: deadline exceeded"), text
assert info["elapsed"] < datetime.timedelta(seconds=3), info["elapsed"]

# A typo and a wrong type are refused, with the client's id, not ignored.
text, _ = failure(connection(kx.toq([kx.LongAtom(3), kx.CharVector("sleep 1"), options(deadlin=seconds(1))])), 3)
assert text == "mserve: unknown option `deadlin; the options are `deadline", text
text, _ = failure(
    connection(kx.toq([kx.LongAtom(4), kx.CharVector("sleep 1"), options(deadline=kx.LongAtom(1000))])), 4)
assert text.startswith("mserve: the option `deadline must be a timespan"), text


async def async_query():
    """Async (id; query; options): the async (id; result; info)."""
    raw = await kx.RawQConnection(host, port, no_ctx=True)
    future = raw(kx.LongAtom(5), b"sleep 20", options(deadline=seconds(5)), wait=False)
    raw.poll_send(0)
    while not future.done():
        raw.poll_recv()
        await asyncio.sleep(0)
    reply = future.result()
    await raw.close()
    return reply


query_id, result, info = items(asyncio.run(async_query()))
assert query_id == 5 and result == 20 and "error" not in info, (query_id, result, info)

connection.close()
print("all checks passed")
