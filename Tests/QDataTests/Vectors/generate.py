#!/usr/bin/env python3
"""Writes kdb+ IPC byte vectors produced by independent kdb+ client libraries.

Run in a throw-away virtualenv:

    python3 -m venv /tmp/qvenv
    /tmp/qvenv/bin/pip install pykx==4.2.0 kola==2.6.1
    /tmp/qvenv/bin/python Tests/QDataTests/Vectors/generate.py

pykx (KX's own library, unlicensed mode: serialization works without q) makes the atoms,
vectors, nulls, dictionaries and lists; kola (a Rust implementation) makes tables and compressed
messages. The output, vectors.json, maps each vector's name to the library, the q expression
it stands for, and the message bytes in hex. ExternalVectorTests.swift holds the matching
expected values.
"""

import datetime as dt
import json
import os
import uuid

import kola
import numpy as np
import polars as pl
import pykx as kx


def pykx_bytes(obj):
    return bytes(kx.serialize(obj, mode=3).copy())


def kola_bytes(obj, compress=False):
    return bytes(kola.serialize_as_ipc_bytes6("async", compress, obj))


GUID = uuid.UUID("8c680a01-5a49-5aab-5a65-d4bfddb6a661")
I64_MIN, I32_MIN, I16_MIN = -(2**63), -(2**31), -(2**15)
I64_MAX, I32_MAX, I16_MAX = 2**63 - 1, 2**31 - 1, 2**15 - 1

# (name, q expression, builder)
PYKX = [
    ("boolean_atom", "1b", lambda: kx.BooleanAtom(True)),
    ("guid_atom", '"G"$"8c680a01-5a49-5aab-5a65-d4bfddb6a661"', lambda: kx.GUIDAtom(GUID)),
    ("byte_atom", "0x2a", lambda: kx.ByteAtom(42)),
    ("short_atom", "-42h", lambda: kx.ShortAtom(-42)),
    ("int_atom", "42i", lambda: kx.IntAtom(42)),
    ("long_atom", "1234", lambda: kx.LongAtom(1234)),
    ("real_atom", "1.5e", lambda: kx.RealAtom(1.5)),
    ("float_atom", "-2.25", lambda: kx.FloatAtom(-2.25)),
    ("char_atom", '"a"', lambda: kx.CharAtom(b"a")),
    ("symbol_atom", "`IBM", lambda: kx.SymbolAtom("IBM")),
    ("timestamp_atom", "2024.01.02D12:30:00.000000001",
     lambda: kx.TimestampAtom(np.datetime64("2024-01-02T12:30:00.000000001", "ns"))),
    ("month_atom", "2024.01m", lambda: kx.MonthAtom(np.datetime64("2024-01", "M"))),
    ("date_atom", "2024.01.02", lambda: kx.DateAtom(dt.date(2024, 1, 2))),
    ("timespan_atom", "0D00:00:01.000000000", lambda: kx.TimespanAtom(np.timedelta64(1000000000, "ns"))),
    ("minute_atom", "12:30", lambda: kx.MinuteAtom(np.timedelta64(750, "m"))),
    ("second_atom", "12:30:00", lambda: kx.SecondAtom(np.timedelta64(45000, "s"))),
    ("time_atom", "12:30:00.123", lambda: kx.TimeAtom(np.timedelta64(45000123, "ms"))),
    ("long_null", "0N", lambda: kx.LongAtom(I64_MIN)),
    ("long_infinity", "0W", lambda: kx.LongAtom(I64_MAX)),
    ("int_null", "0Ni", lambda: kx.IntAtom(I32_MIN)),
    ("short_null", "0Nh", lambda: kx.ShortAtom(I16_MIN)),
    ("float_null", "0n", lambda: kx.FloatAtom(float("nan"))),
    ("float_infinity", "0w", lambda: kx.FloatAtom(float("inf"))),
    ("symbol_null", "`", lambda: kx.SymbolAtom("")),
    ("boolean_vector", "101b", lambda: kx.BooleanVector(np.array([True, False, True]))),
    ("guid_vector", "enlist guid", lambda: kx.GUIDVector(np.array([GUID], dtype=object))),
    ("byte_vector", "0x000102", lambda: kx.ByteVector(np.array([0, 1, 2], dtype=np.uint8))),
    ("short_vector", "1 -2 0Nh", lambda: kx.ShortVector(np.array([1, -2, I16_MIN], dtype=np.int16))),
    ("int_vector", "1 2 0Wi", lambda: kx.IntVector(np.array([1, 2, I32_MAX], dtype=np.int32))),
    ("long_vector", "1 2 3", lambda: kx.LongVector(np.array([1, 2, 3], dtype=np.int64))),
    ("real_vector", "1.5 -2e", lambda: kx.RealVector(np.array([1.5, -2.0], dtype=np.float32))),
    ("float_vector", "1.5 0n 0w", lambda: kx.FloatVector(np.array([1.5, np.nan, np.inf]))),
    ("char_vector", '"proc1 `IBM"', lambda: kx.CharVector("proc1 `IBM")),
    ("symbol_vector", "`a`bc`", lambda: kx.SymbolVector(["a", "bc", ""])),
    ("timestamp_vector", "2000.01.01D00:00:00.000000000 2024.01.02D12:30:00.000000000",
     lambda: kx.TimestampVector(np.array(["2000-01-01T00:00:00", "2024-01-02T12:30:00"], dtype="datetime64[ns]"))),
    ("date_vector", "1999.12.31 2024.01.02",
     lambda: kx.DateVector(np.array(["1999-12-31", "2024-01-02"], dtype="datetime64[D]"))),
    ("timespan_vector", "0D00:00:01.000000000 -0D00:00:00.000000005",
     lambda: kx.TimespanVector(np.array([1000000000, -5], dtype="timedelta64[ns]"))),
    ("empty_long_vector", "`long$()", lambda: kx.LongVector(np.array([], dtype=np.int64))),
    ("empty_char_vector", '""', lambda: kx.CharVector("")),
    ("mserve_query", '(1234;"proc1 `IBM")', lambda: kx.toq([kx.LongAtom(1234), kx.CharVector("proc1 `IBM")])),
    ("nested_list", "(1;(`a;\"xy\");())", lambda: kx.toq([kx.LongAtom(1), kx.toq([kx.SymbolAtom("a"), kx.CharVector("xy")]), kx.toq([])])),
    ("dictionary", '`routing`servant!(`IBM;"s1")',
     lambda: kx.toq({"routing": kx.SymbolAtom("IBM"), "servant": kx.CharVector("s1")})),
]

KOLA = [
    ("table", "([] a:1 2; b:`x`y)",
     lambda: kola_bytes(pl.DataFrame({"a": [1, 2], "b": pl.Series(["x", "y"], dtype=pl.Categorical)}))),
    ("table_strings", '([] s:("ab";"c"))', lambda: kola_bytes(pl.DataFrame({"s": ["ab", "c"]}))),
    ("table_floats", "([] price:1.5 2.5; size:10 20i)",
     lambda: kola_bytes(pl.DataFrame({"price": [1.5, 2.5], "size": pl.Series([10, 20], dtype=pl.Int32)}))),
    ("compressed_long_vector", "til 3000 (compressed)",
     lambda: kola_bytes(pl.Series("", list(range(3000)), dtype=pl.Int64), True)),
    ("compressed_table", "([] a:til 1000) (compressed)",
     lambda: kola_bytes(pl.DataFrame({"a": list(range(1000))}), True)),
]


def main():
    vectors = {}
    for name, q, build in PYKX:
        vectors[name] = {"library": f"pykx {kx.__version__}", "q": q, "hex": pykx_bytes(build()).hex()}
    for name, q, build in KOLA:
        vectors[name] = {"library": "kola 2.6.1", "q": q, "hex": build().hex()}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.json")
    with open(path, "w") as out:
        json.dump(vectors, out, indent=1, sort_keys=True)
        out.write("\n")
    print(f"wrote {len(vectors)} vectors to {path}")


if __name__ == "__main__":
    main()
