#!/usr/bin/env python3
"""Echo benchmark of the Majordomo (MDP 0.2) broker of the PyPI package `majortomo`.

Starts `python -m majortomo.broker` on a free loopback port, WORKERS echo workers and
CLIENTS client processes, using majortomo's own Client and Worker classes. An MDP client
has one request outstanding, so each client process keeps IN_FLIGHT requests in flight
with IN_FLIGHT MDP clients on threads of its own, as the bench's other clients keep
IN_FLIGHT queries in flight on one connection. Measures for DURATION seconds after a
short warm-up, and prints one JSON object: queries, errors, seconds, throughput and
latency percentiles in microseconds. Used by `mserve-bench broker`; needs
`pip install majortomo six`.
"""

import argparse
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time

SERVICE = b"echo"
PAYLOAD = b"\x01\x00\x00\x00\x23\x00\x00\x00\x00\x00\x02\x00\x00\x00\xf9\x01\x00\x00\x00\x00\x00\x00\x00\x0a\x00\x06\x00\x00\x00echo 1"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_worker(url):
    from majortomo import Worker, WorkerRequestsIterator

    worker = Worker(broker_url=url, service_name=SERVICE)
    requests = WorkerRequestsIterator(worker)
    for request in requests:
        requests.send_reply_final(request)


def run_client(url, start, measure_from, end, in_flight, results):
    """One client process: IN_FLIGHT MDP clients on threads, one request outstanding each."""
    parts = []
    threads = [
        threading.Thread(target=run_client_loop, args=(url, measure_from, end, parts)) for _ in range(in_flight)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(([latency for part, _ in parts for latency in part], sum(errors for _, errors in parts)))


def run_client_loop(url, measure_from, end, parts):
    from majortomo import Client

    latencies = []
    errors = 0
    with Client(url) as client:
        while True:
            sent = time.monotonic()
            if sent >= end:
                break
            try:
                client.send(SERVICE, PAYLOAD)
                reply = client.recv_all_as_list(timeout=5)
                received = time.monotonic()
                if reply != [PAYLOAD]:
                    errors += 1
                elif sent >= measure_from and received <= end:
                    latencies.append(received - sent)
            except Exception:
                errors += 1
    parts.append((latencies, errors))


def percentile(ordered, fraction):
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[index] * 1e6


def main():
    # mserve-bench stops this driver with its whole process group (broker, workers, clients),
    # so the driver leads a group of its own. The bench ignores SIGINT and SIGTERM itself and
    # starts it from a thread that blocks every signal; an ignored signal stays ignored, and a
    # blocked one blocked, across exec: restore the defaults so that they stop us.
    os.setpgid(0, 0)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--in-flight", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warm-up", type=float, default=0.5)
    arguments = parser.parse_args()

    url = "tcp://127.0.0.1:%d" % free_port()
    broker = subprocess.Popen(
        [sys.executable, "-m", "majortomo.broker", "-b", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers = [multiprocessing.Process(target=run_worker, args=(url,), daemon=True) for _ in range(arguments.workers)]
    try:
        time.sleep(0.5)
        for worker in workers:
            worker.start()
        time.sleep(0.5)
        results = multiprocessing.Queue()
        start = time.monotonic() + 0.2
        measure_from = start + arguments.warm_up
        end = measure_from + arguments.duration
        clients = [
            multiprocessing.Process(target=run_client, args=(url, start, measure_from, end, arguments.in_flight, results))
            for _ in range(arguments.clients)
        ]
        for client in clients:
            client.start()
        latencies = []
        errors = 0
        for _ in clients:
            part, part_errors = results.get(timeout=arguments.duration + 30)
            latencies += part
            errors += part_errors
        for client in clients:
            client.join(timeout=5)
            if client.is_alive():
                client.kill()
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
                worker.join(timeout=5)
        broker.kill()
        try:
            broker.wait(timeout=5)
        except subprocess.TimeoutExpired:
            broker.kill()
    latencies.sort()
    print(
        json.dumps(
            {
                "queries": len(latencies),
                "errors": errors,
                "seconds": arguments.duration,
                "throughput": len(latencies) / arguments.duration,
                "mean_us": (sum(latencies) / len(latencies) * 1e6) if latencies else 0.0,
                "p50_us": percentile(latencies, 0.50),
                "p90_us": percentile(latencies, 0.90),
                "p99_us": percentile(latencies, 0.99),
                "p999_us": percentile(latencies, 0.999),
            }
        )
    )


if __name__ == "__main__":
    main()
