"""Floods an MServe broker's kdb+ door (its users from the hub, --users hub, whose passwords
are checked against slow hashes) with wrong passwords from one address, and checks that users
logging in from another address still get in. Plain sockets only (no libraries).

Usage: kdb_login_flood.py HOST PORT FLOODED_USER USER:PASSWORD...
30 threads log in as FLOODED_USER with a wrong password from 127.0.0.2, again and again, for as
long as the check runs; meanwhile each USER logs in once from 127.0.0.3, one after the other
(none logged in before, so each password is checked in full, not recognised). Every one must
get the capability byte. Prints "all checks passed" or fails.
"""
import socket
import sys
import threading
import time

host, port, flooded = sys.argv[1], int(sys.argv[2]), sys.argv[3]
users = [pair.encode() for pair in sys.argv[4:]]
stop = threading.Event()
attempts = [0]


def flood():
    while not stop.is_set():
        try:
            connection = socket.create_connection((host, port), timeout=30, source_address=("127.0.0.2", 0))
            connection.sendall(flooded.encode() + b":wrong\x03\x00")
            while connection.recv(64):
                pass
            connection.close()
        except OSError:
            pass
        attempts[0] += 1


threads = [threading.Thread(target=flood, daemon=True) for _ in range(30)]
for thread in threads:
    thread.start()
# Under way before the first real login: every thread has had a wrong password refused.
while attempts[0] < 30:
    time.sleep(0.05)

for credentials in users:
    connection = socket.create_connection((host, port), timeout=60, source_address=("127.0.0.3", 0))
    connection.sendall(credentials + b"\x03\x00")
    try:
        answer = connection.recv(1)
    except ConnectionResetError:
        answer = b""
    user = credentials.split(b":")[0].decode()
    assert answer == b"\x03", f"{user} was not let in from another address during the flood ({answer!r})"
    connection.close()

stop.set()
for thread in threads:
    thread.join()
print(f"all checks passed ({attempts[0]} wrong logins)")
