#!/usr/bin/env python3
"""Model of the compaction policies of lsm tables (lsm_policy_pick in
src/lsm/lsm_flush.c): N flushes of equal size F = one level-1 run each,
merged by the policy's rules after every flush.  Prints write amplification
(bytes written to runs per byte flushed) and the most runs held at once.
Used for the table in doc/lsm-design.md, "Compaction policy".

usage: policy_model.py [ratio ...]   (default: 2 4 8)
"""
import sys


def level(size, ratio):
    """Size class of a run: 1 up to one flush, +1 per factor ratio."""
    lvl, bound = 1, 1.0
    while size > bound and lvl < 32:
        bound *= ratio
        lvl += 1
    return lvl


def pick(runs, policy, ratio, max_runs):
    """Index of the last of the newest runs to merge, or -1."""
    last = -1
    if len(runs) < 2:
        return -1
    if policy == "tiered":
        lvl = level(runs[0], ratio)
        n = 1
        while n < len(runs) and level(runs[n], ratio) == lvl:
            n += 1
        if n >= ratio:
            last = n - 1
    else:
        total = 0.0
        for i, size in enumerate(runs):
            if i > 0 and size > total * ratio:
                break
            total += size
            last = i
    if max_runs and len(runs) - max(last, 0) > max_runs:
        last = len(runs) - max_runs
    return last


def simulate(policy, ratio, flushes, max_runs=32):
    runs, written, most = [], 0.0, 0
    for _ in range(flushes):
        runs.insert(0, 1.0)
        written += 1.0
        while True:
            last = pick(runs, policy, ratio, max_runs)
            if last < 1:
                break
            merged = sum(runs[: last + 1])
            written += merged
            runs = [merged] + runs[last + 1:]
        most = max(most, len(runs))
    return written / flushes, most


def main():
    ratios = [int(a) for a in sys.argv[1:]] or [2, 4, 8]
    print("policy   ratio  flushes  write_amp  max_runs")
    for policy in ("leveled", "tiered"):
        for ratio in ratios:
            for flushes in (16, 64, 256, 1024):
                wamp, most = simulate(policy, ratio, flushes)
                print(f"{policy:8} {ratio:5} {flushes:8} {wamp:10.2f} {most:9}")


if __name__ == "__main__":
    main()
