#!/usr/bin/env python3
"""What batching by symbol could give on the saturated warm workload.

A discrete-event simulation of the `warm` workload as `mserve-bench broker` runs it by
default: S servants with a cache of one symbol, a cold run costing 2 ms and a warm one
50 us, K symbols drawn from a Zipf distribution (s = 1.1), and a closed loop of 64 queries
in flight (each answer brings a new query). Two policies pick the query a servant takes
when it frees up:

- orig: the query at the front of the line (first come, first served);
- batching: a query of the symbol the servant holds, if one is in the look-ahead window;
  else one of the symbol queued most often that no other servant holds. It ignores
  fairness (a rare symbol can wait long), so it bounds what an algorithm that sees the
  line could reach; it is not a proposal.

Since the loop is closed, mean latency is in-flight / throughput, and the latency ratio
is the inverse of the throughput ratio.

    python3 bench/warm_simulation.py [--servants 2] [--symbols 8] [--look-ahead 16]
"""
import argparse
import heapq
import random


def simulate(policy, servants, symbols, in_flight, look_ahead, queries, seed=1):
    rng = random.Random(seed)
    weights = [1 / (k ** 1.1) for k in range(1, symbols + 1)]

    def draw():
        return rng.choices(range(symbols), weights)[0]

    line = [draw() for _ in range(in_flight)]
    held = [None] * servants
    free = list(range(servants))
    running = []  # (finish time, servant)
    now, answered = 0.0, 0
    while answered < queries:
        for servant in list(free):
            if not line:
                break
            window = line[:look_ahead]
            index = 0
            if policy == "batching":
                same = [i for i, symbol in enumerate(window) if symbol == held[servant]]
                if same:
                    index = same[0]
                else:
                    others = {held[s] for s in range(servants) if s != servant}
                    counts = {}
                    for symbol in window:
                        if symbol not in others:
                            counts[symbol] = counts.get(symbol, 0) + 1
                    if counts:
                        index = window.index(max(counts, key=counts.get))
            symbol = line.pop(index)
            cost = 0.05 if held[servant] == symbol else 2.0
            held[servant] = symbol
            free.remove(servant)
            heapq.heappush(running, (now + cost, servant))
        now, servant = heapq.heappop(running)
        free.append(servant)
        answered += 1
        line.append(draw())
    return answered / now * 1000  # queries per second


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servants", type=int, default=2)
    parser.add_argument("--symbols", type=int, default=8)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--look-ahead", type=int, default=16)
    parser.add_argument("--queries", type=int, default=200_000)
    arguments = parser.parse_args()
    rates = {
        policy: simulate(policy, arguments.servants, arguments.symbols, arguments.in_flight,
                         arguments.look_ahead, arguments.queries)
        for policy in ("orig", "batching")
    }
    for policy, rate in rates.items():
        print(f"{policy:9s} {rate:8.0f} q/s")
    print(f"mean latency batching / orig: {rates['orig'] / rates['batching']:.2f}")


if __name__ == "__main__":
    main()
