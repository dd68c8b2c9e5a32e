"""Times PyTorch training steps of the twins of sbpflow's MLP and GPT.

The PyTorch half of bench/compare_pytorch.sh. It starts from the initial
weights of an sbpflow checkpoint and trains on the batches sbpflow's step
bench dumped (so both sides see the same data in the same order), one thread,
and prints one JSON object: {"losses": [...], "step_seconds": [...],
"step_cpu_seconds": [...], "blas_core": "..."} with one entry per step,
warm-up steps included (wall-clock time, and CPU time of the process), and
the OpenBLAS kernels torch's BLAS ran ("unknown" when it is not OpenBLAS).

Run with Debian's /usr/bin/python3 (python3-torch). Threads must be limited by
the environment before torch loads OpenBLAS: OMP_NUM_THREADS=1
OPENBLAS_NUM_THREADS=1 (compare_pytorch.sh sets them).
"""
import argparse
import ctypes
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import pytorch_models  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["mlp", "gpt"], required=True)
    parser.add_argument("--init", required=True, help="sbpflow safetensors with initial weights")
    parser.add_argument("--batches", required=True,
                        help="safetensors with features.<i> and labels.<i> (sbpflow_step_bench)")
    parser.add_argument("--steps", type=int, required=True, help="steps to run (warm-up included)")
    parser.add_argument("--optimizer", choices=["sgd", "adamw"], required=True)
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--layers", type=int, default=4, help="GPT blocks")
    parser.add_argument("--heads", type=int, default=4, help="GPT heads")
    return parser.parse_args()


def blas_core():
    """The OpenBLAS core loaded in this process (torch reaches it through libblas.so.3)."""
    try:
        library = ctypes.CDLL("libopenblas.so.0")
        library.openblas_get_corename.restype = ctypes.c_char_p
        return library.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return "unknown"


def main():
    args = parse_args()
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    init = pytorch_models.read_safetensors(args.init)
    stored = pytorch_models.read_safetensors(args.batches)
    count = sum(1 for name in stored if name.startswith("features."))
    batches = [(stored[f"features.{i}"], stored[f"labels.{i}"].long()) for i in range(count)]
    if args.model == "mlp":
        model = pytorch_models.Mlp(init)
    else:
        model = pytorch_models.Gpt(init, args.layers, args.heads)
        batches = [(features.long(), labels) for features, labels in batches]
    if args.optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr,
                                      weight_decay=args.weight_decay)

    losses = []
    seconds = []
    cpu_seconds = []
    for step in range(args.steps):
        features, labels = batches[step % count]
        start = time.perf_counter()
        cpu_start = time.process_time()
        optimizer.zero_grad(set_to_none=True)
        logits = model(features)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 labels.reshape(-1))
        loss.backward()
        optimizer.step()
        value = loss.item()
        cpu_seconds.append(time.process_time() - cpu_start)
        seconds.append(time.perf_counter() - start)
        losses.append(value)
    json.dump({"losses": losses, "step_seconds": seconds, "step_cpu_seconds": cpu_seconds,
               "blas_core": blas_core()}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
