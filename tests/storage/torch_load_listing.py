#!/usr/bin/env python3
"""Loads a state dict file the way a user would and lists what it holds.

usage: torch_load_listing.py FILE.pt

Loads FILE with `torch.load(FILE, weights_only=True)` and with a plain `torch.load(FILE)`, checks
that both give a dict from name to plain tensor and the same bits, and prints the first one, one
line per entry in the file's order:

    <name> <dtype> <shape> <SHA-256 of the tensor's bytes, in row-major order>

which the C++ tests compare with the same listing of the tensors they wrote. Exits non-zero (with
Python's traceback) when either load fails.
"""

import hashlib
import sys

import torch


def listing(state):
    if type(state) is not dict:
        raise TypeError(f"torch.load returned a {type(state).__name__}, not a dict")
    lines = []
    for name, tensor in state.items():
        if type(name) is not str or type(tensor) is not torch.Tensor:
            raise TypeError(f"entry {name!r} is a {type(tensor).__name__}, not a tensor")
        flat = tensor.contiguous().reshape(-1)
        data = bytes(flat.view(torch.uint8).tolist()) if flat.numel() > 0 else b""
        shape = "[" + ", ".join(str(size) for size in tensor.shape) + "]"
        lines.append(f"{name} {tensor.dtype} {shape} {hashlib.sha256(data).hexdigest()}")
    return lines


def main(path):
    weights_only = listing(torch.load(path, weights_only=True))
    plain = listing(torch.load(path))
    if plain != weights_only:
        raise AssertionError("torch.load(path) and torch.load(path, weights_only=True) differ")
    for line in weights_only:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
