"""Summarizes interleaved sbpflow / PyTorch runs of bench/compare_pytorch.sh.

Usage: compare_report.py NAME WARMUP TARGET RUN_DIR
RUN_DIR holds sbpflow.<round>.json and pytorch.<round>.json, one JSON object
{"losses": [...], "step_seconds": [...], "step_cpu_seconds": [...]} each.
Prints the median step time of each side over every timed step of every round
(the first WARMUP steps of each run are not timed), their ratio sbpflow /
PyTorch (the figure the targets apply to), the per-round ratios, the median CPU
time per step of each side (less disturbed by other load on the machine), and
how far the losses of the two sides are apart. Exits 1 when the first losses
disagree (relative difference above 1e-5) and 3 when the ratio misses TARGET.
"""
import glob
import json
import os
import statistics
import sys


def load(run_dir, side):
    runs = []
    for path in sorted(glob.glob(os.path.join(run_dir, f"{side}.*.json")),
                       key=lambda p: int(p.rsplit(".", 2)[1])):
        with open(path) as f:
            runs.append(json.load(f))
    return runs


def relative(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-30)


def main():
    name, warmup, target, run_dir = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    ours = load(run_dir, "sbpflow")
    theirs = load(run_dir, "pytorch")
    if not ours or len(ours) != len(theirs):
        print(f"{name}: expected as many sbpflow as PyTorch runs in {run_dir}", file=sys.stderr)
        return 1
    our_times = [t for run in ours for t in run["step_seconds"][warmup:]]
    their_times = [t for run in theirs for t in run["step_seconds"][warmup:]]
    our_median = statistics.median(our_times)
    their_median = statistics.median(their_times)
    ratio = our_median / their_median
    round_ratios = [statistics.median(a["step_seconds"][warmup:]) /
                    statistics.median(b["step_seconds"][warmup:]) for a, b in zip(ours, theirs)]
    our_cpu = statistics.median(t for run in ours for t in run["step_cpu_seconds"][warmup:])
    their_cpu = statistics.median(t for run in theirs for t in run["step_cpu_seconds"][warmup:])

    first_ours, first_theirs = ours[0]["losses"], theirs[0]["losses"]
    first_difference = relative(first_ours[0], first_theirs[0])
    compared = min(len(first_ours), len(first_theirs), 5)
    worst = max(relative(a, b) for a, b in zip(first_ours[:compared], first_theirs[:compared]))
    # Every run starts from the same weights and data: each side must repeat itself.
    repeatable = all(run["losses"] == ours[0]["losses"] for run in ours)

    print(f"{name}:")
    print(f"  sbpflow median step  {our_median * 1e3:9.2f} ms  ({len(our_times)} steps, "
          f"{len(ours)} runs)")
    print(f"  PyTorch median step  {their_median * 1e3:9.2f} ms  ({len(their_times)} steps, "
          f"{len(theirs)} runs)")
    print(f"  ratio sbpflow / PyTorch = {ratio:.3f}  (target <= {target}; per round: "
          + ", ".join(f"{r:.3f}" for r in round_ratios) + ")")
    print(f"  CPU time per step: sbpflow {our_cpu * 1e3:.2f} ms, PyTorch {their_cpu * 1e3:.2f} ms, "
          f"ratio {our_cpu / their_cpu:.3f}")
    print(f"  OpenBLAS kernels: sbpflow {ours[0].get('blas_core', '?')}, "
          f"PyTorch {theirs[0].get('blas_core', '?')}")
    print(f"  first loss: sbpflow {first_ours[0]:.7f}, PyTorch {first_theirs[0]:.7f} "
          f"(relative difference {first_difference:.1e}); largest over the first {compared} "
          f"steps {worst:.1e}; sbpflow runs identical: {'yes' if repeatable else 'NO'}")
    if first_difference > 1e-5:
        print(f"  FAIL: the first losses disagree", file=sys.stderr)
        return 1
    if ratio > target:
        print(f"  MISSED: ratio {ratio:.3f} > {target}")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
