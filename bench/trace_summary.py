"""Summarizes a Chrome trace of `sbpflow train --trace`: time per op name
(block numbers folded, so block0 and block3 add up), per step, largest first,
and the share of the step's wall time the kernels cover.

Usage: trace_summary.py TRACE.json [--skip-steps N] [--top K]
"""
import argparse
import collections
import json
import re


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("trace")
    parser.add_argument("--skip-steps", type=int, default=1, help="warm-up steps to ignore")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    with open(args.trace) as f:
        events = [e for e in json.load(f)["traceEvents"] if e.get("ph") == "X"]
    events = [e for e in events if e["args"]["step"] >= args.skip_steps]
    steps = sorted({e["args"]["step"] for e in events})
    totals = collections.Counter()
    counts = collections.Counter()
    for event in events:
        name = re.sub(r"block\d+", "block*", event["name"])
        totals[name] += event["dur"]
        counts[name] += 1
    busy = sum(totals.values()) / len(steps)
    spans = []
    for step in steps:
        in_step = [e for e in events if e["args"]["step"] == step]
        spans.append(max(e["ts"] + e["dur"] for e in in_step) - min(e["ts"] for e in in_step))
    print(f"{len(steps)} steps; kernels {busy / 1e3:.2f} ms per step; first to last kernel "
          f"{sum(spans) / len(spans) / 1e3:.2f} ms per step")
    for name, total in totals.most_common(args.top):
        print(f"{total / len(steps) / 1e3:9.3f} ms  {counts[name] // len(steps):4d}x  {name}")


if __name__ == "__main__":
    main()
