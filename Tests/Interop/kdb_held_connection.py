"""Holds one pykx connection to an MServe broker's kdb+ door and queries on it until the
broker closes it, as a q shop's long-running Python would.

Usage: kdb_held_connection.py HOST PORT USER PASSWORD READY_FILE SECONDS. Logs in, is served
once, then creates READY_FILE and keeps querying. Prints "served N, then cut" and exits 0 when
a query fails because the connection was closed; exits 1 if it is still served after SECONDS.
"""
import pathlib
import sys
import time

import pykx as kx

host, port, user, password, ready, seconds = sys.argv[1:7]
connection = kx.SyncQConnection(host, int(port), username=user, password=password, no_ctx=True)
served = 0


def query():
    global served
    result = connection("proc1 `IBM")
    assert isinstance(result, kx.Table), type(result)
    served += 1


query()
pathlib.Path(ready).touch()
deadline = time.time() + float(seconds)
while time.time() < deadline:
    try:
        query()
    except Exception as error:  # pykx raises its own errors for a closed handle
        print(f"served {served}, then cut: {type(error).__name__}: {error}")
        sys.exit(0)
    time.sleep(0.05)
print(f"still served after {seconds} s ({served} queries)")
sys.exit(1)
