"""PyTorch twins of sbpflow's `gen mlp` and `gen gpt` models, for side-by-side
runs (bench/compare_pytorch.sh) and correctness checks.

Variables are named as sbpflow names them, weights are [in, out] (x @ W), and
initial values come from an sbpflow safetensors checkpoint
(`sbpflow train ... --steps 0 --save init.safetensors`).
"""
import gzip
import json
import math
import struct

import numpy as np
import torch


def read_safetensors(path):
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
        data = f.read()
    dtypes = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        array = np.frombuffer(data[begin:end], dtype=dtypes[entry["dtype"]])
        tensors[name] = torch.from_numpy(array.reshape(entry["shape"]).copy())
    return tensors


def fashion_mnist(folder="/usr/share/datasets/fashion-mnist", split="train"):
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(f"{folder}/{prefix}-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(f"{folder}/{prefix}-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    features = torch.from_numpy(images.astype(np.float32) / np.float32(255.0))
    return features, torch.from_numpy(labels.astype(np.int64))


class Mlp(torch.nn.Module):
    def __init__(self, init):
        super().__init__()
        self.weights = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        layer = 0
        while f"layer{layer}.weight" in init:
            self.weights.append(torch.nn.Parameter(init[f"layer{layer}.weight"].clone()))
            self.biases.append(torch.nn.Parameter(init[f"layer{layer}.bias"].clone()))
            layer += 1

    def forward(self, x):
        for index, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = x @ w + b
            if index + 1 < len(self.weights):
                x = torch.relu(x)
        return x


class Gpt(torch.nn.Module):
    def __init__(self, init, layers, heads):
        super().__init__()
        self.heads = heads
        self.layers = layers
        self.params = torch.nn.ParameterDict(
            {name.replace(".", "__"): torch.nn.Parameter(tensor.clone())
             for name, tensor in init.items()
             if not name.startswith("optimizer") and ".adam_" not in name and ".momentum" not in name})

    def p(self, name):
        return self.params[name.replace(".", "__")]

    def layer_norm(self, name, x):
        return torch.nn.functional.layer_norm(x, (x.shape[-1],), self.p(f"{name}.gamma"),
                                              self.p(f"{name}.beta"), 1e-5)

    def linear(self, name, x):
        return x @ self.p(f"{name}.weight") + self.p(f"{name}.bias")

    def forward(self, tokens):
        batch, seq = tokens.shape
        x = self.p("wte")[tokens] + self.p("wpe")[:seq]
        hidden = x.shape[-1]
        head_size = hidden // self.heads
        mask = torch.triu(torch.ones(seq, seq, dtype=torch.bool), diagonal=1)
        for layer in range(self.layers):
            block = f"block{layer}"
            h = self.layer_norm(f"{block}.ln1", x)
            q, k, v = (self.linear(f"{block}.attn.{n}", h).view(batch, seq, self.heads, head_size)
                       .transpose(1, 2) for n in ("q", "k", "v"))
            scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(head_size))
            scores = scores.masked_fill(mask, -1e9)
            context = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(batch, seq, hidden)
            x = x + self.linear(f"{block}.attn.proj", context)
            h = self.layer_norm(f"{block}.ln2", x)
            h = torch.nn.functional.gelu(self.linear(f"{block}.mlp.fc", h), approximate="tanh")
            x = x + self.linear(f"{block}.mlp.proj", h)
        x = self.layer_norm("ln_f", x)
        return x @ self.p("head.weight")
