"""Every q type as an argument and as a result, through both paths, byte for byte.

Usage: kdb_types.py HOST DOOR_PORT ZMQ_ENDPOINT (a cluster serving the demo API's `echo`).
For each value pykx makes — atoms and vectors of every q type, guid, a general list, a
dictionary, a table — the parse form ("echo"; value), as pykx encodes it, goes
- through the kdb+ door as a sync message: the response must be exactly pykx's encoding of
  the value (its payload byte for byte);
- over ZeroMQ as (id; (`echo; value)): the result inside (id; result; info) must be the same
  bytes, and the reply must decode with pykx.deserialize.
Prints one line per value; "all checks passed" or exits 1.
"""
import datetime
import struct
import sys
import uuid

import numpy
import pandas
import pykx as kx
import zmq

from mserve_failures import RawDoor

host, port, endpoint = sys.argv[1], int(sys.argv[2]), sys.argv[3]

day = datetime.date(2024, 1, 2)
moment = datetime.datetime(2024, 1, 2, 3, 4, 5, 678901)
span = datetime.timedelta(hours=1, minutes=2, seconds=3, microseconds=4)
VALUES = {
    "boolean": kx.BooleanAtom(True), "booleans": kx.BooleanVector([True, False]),
    "guid": kx.GUIDAtom(uuid.UUID("12345678-1234-5678-1234-567812345678")),
    "guids": kx.GUIDVector([uuid.UUID(int=1), uuid.UUID(int=2)]),
    "byte": kx.ByteAtom(7), "bytes": kx.ByteVector([1, 2, 255]),
    "short": kx.ShortAtom(-3), "shorts": kx.ShortVector([1, -2]),
    "int": kx.IntAtom(42), "ints": kx.IntVector([1, 2, 3]),
    "long": kx.LongAtom(-5), "longs": kx.LongVector([1, 2, 3]),
    "real": kx.RealAtom(1.5), "reals": kx.RealVector([1.5, -2.25]),
    "float": kx.FloatAtom(3.25), "floats": kx.FloatVector([1.0, 2.5]),
    "char": kx.CharAtom(b"x"), "string": kx.CharVector("some text"),
    "symbol": kx.SymbolAtom("IBM"), "symbols": kx.SymbolVector(["IBM", "MSFT"]),
    "timestamp": kx.TimestampAtom(moment), "timestamps": kx.TimestampVector([moment, moment]),
    "month": kx.MonthAtom(numpy.datetime64("2024-01", "M")),
    "months": kx.MonthVector(numpy.array(["2024-01", "2024-02"], dtype="datetime64[M]")),
    "date": kx.DateAtom(day), "dates": kx.DateVector([day, day]),
    # pykx makes no datetime (deprecated type 15) from Python values: read from its bytes.
    "datetime": kx.deserialize(struct.pack("<BBBBi", 1, 0, 0, 0, 17) + struct.pack("<bd", -15, 8766.5)),
    "datetimes": kx.deserialize(struct.pack("<BBBBi", 1, 0, 0, 0, 30) + struct.pack("<bBi", 15, 0, 2)
                                + struct.pack("<dd", 8766.5, 8767.25)),
    "timespan": kx.TimespanAtom(span), "timespans": kx.TimespanVector([span, span]),
    "minute": kx.MinuteAtom(numpy.timedelta64(61, "m")),
    "minutes": kx.MinuteVector(numpy.array([61, 62], dtype="timedelta64[m]")),
    "second": kx.SecondAtom(numpy.timedelta64(3661, "s")),
    "seconds": kx.SecondVector(numpy.array([3661, 7], dtype="timedelta64[s]")),
    "time": kx.TimeAtom(numpy.timedelta64(3661001, "ms")),
    "times": kx.TimeVector(numpy.array([3661001, 5], dtype="timedelta64[ms]")),
    "general list": kx.toq([kx.LongAtom(1), kx.CharVector("a"), kx.FloatAtom(2.5)]),
    "dictionary": kx.toq({"a": 1, "b": 2}),
    "table": kx.toq(pandas.DataFrame({"sym": ["IBM", "MSFT"], "price": [1.5, 2.5]})),
    "keyed table": kx.toq(pandas.DataFrame({"sym": ["IBM", "MSFT"], "price": [1.5, 2.5]}).set_index("sym")),
    # Results the broker passes on from the servant's frame without reading them (16 KiB and
    # more), written by the door from that frame.
    "large longs": kx.LongVector(list(range(300000))),
    "large string": kx.CharVector("x" * 100000),
    "large table": kx.toq(pandas.DataFrame({"sym": ["IBM", "MSFT"] * 5000, "price": [1.5, 2.5] * 5000})),
}


def serialized(value, message_type=0):
    return bytes(kx.serialize(value, mode=3, wait=message_type).copy())


def call(value, message_type):
    """("echo"; value) as pykx encodes a call, in a message of `message_type`."""
    return serialized(kx.toq([kx.CharVector("echo"), value]), message_type)


door = RawDoor(host, port)
context = zmq.Context()
dealer = context.socket(zmq.DEALER)
dealer.setsockopt(zmq.RCVTIMEO, 20000)
dealer.setsockopt(zmq.LINGER, 0)
dealer.connect(endpoint)
failures = 0
for query_id, (name, value) in enumerate(VALUES.items(), start=1):
    expected = serialized(value)[8:]
    # The door: a sync call; the response is the value alone.
    door.send(call(value, 1))
    response = door.receive()
    door_ok = response[1] == 2 and response[8:] == expected
    # ZeroMQ: (id; (`echo; value)); the result is sliced out of (id; result; info).
    form = serialized(kx.toq([kx.SymbolAtom("echo"), value]))[8:]
    dealer.send(struct.pack("<BBBBi", 1, 0, 0, 0, 8 + 6 + 9 + len(form))
                + struct.pack("<bBi", 0, 0, 2) + struct.pack("<bq", -7, query_id) + form)
    reply = dealer.recv()
    head = 8 + 6 + 9
    zmq_ok = (reply[8:14] == struct.pack("<bBi", 0, 0, 3) and reply[14:head] == struct.pack("<bq", -7, query_id)
              and reply[head:head + len(expected)] == expected and reply[head + len(expected)] == 99)
    decoded = kx.deserialize(reply).py(raw=True)  # raw: pykx reads datetimes no other way
    zmq_ok = zmq_ok and decoded[0] == query_id and b"error" not in decoded[2] and "error" not in decoded[2]
    if door_ok and zmq_ok:
        print("ok   %s" % name)
    else:
        failures += 1
        print("FAIL %s: door %s, zmq %s" % (name, door_ok, zmq_ok))
        print("     expected %s" % expected.hex())
        print("     door     %s" % response[8:].hex())
        print("     zmq      %s (%s)" % (reply[head:head + len(expected) + 8].hex(), decoded[1]))
door.close()
dealer.close()
context.term()
if failures:
    sys.exit(1)
print("all checks passed")
