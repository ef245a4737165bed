#!/usr/bin/python3
"""PyTorch anchor of the engine benchmark (bench/engine.sh): trains the same
MLP and CNN as examples/train-mlp.json / train-cnn.json on Fashion-MNIST,
on one thread with flush-to-zero, and prints one JSON line per run.

Same recipe as hpsearch: pixels / 255, the last 10,000 training images held
out for validation (so 50,000 train), batch 128 drawn from a fresh shuffle
every epoch, Kaiming-normal weights and zero biases, Adam(1e-3) (or SGD with
momentum 0.9). samples/s counts training samples over the time spent in the
training loop only (batch gather, forward, backward, update), as hpsearch
does; the data set is read from /usr/share/datasets/fashion-mnist with gzip
and numpy, never downloaded.

usage: engine_torch.py {mlp|cnn} EPOCHS [adam|momentum] [BATCH] [SEED]
"""
import gzip
import json
import os
import re
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = os.environ.get("HP_FASHION_DIR", "/usr/share/datasets/fashion-mnist")


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load():
    xtr = read_idx(f"{DATA}/train-images-idx3-ubyte.gz")
    ytr = read_idx(f"{DATA}/train-labels-idx1-ubyte.gz")
    xte = read_idx(f"{DATA}/t10k-images-idx3-ubyte.gz")
    yte = read_idx(f"{DATA}/t10k-labels-idx1-ubyte.gz")
    def to_x(a):
        return torch.from_numpy(a.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    def to_y(a):
        return torch.from_numpy(a.astype(np.int64))
    return (to_x(xtr[:-10000]), to_y(ytr[:-10000]), to_x(xtr[-10000:]), to_y(ytr[-10000:]),
            to_x(xte), to_y(yte))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(784, 512), nn.Linear(512, 256), nn.Linear(256, 10)

    def forward(self, x):
        x = x.reshape(x.shape[0], -1)
        return self.l3(F.relu(self.l2(F.relu(self.l1(x)))))


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 32, 3, padding=1)
        self.c2 = nn.Conv2d(32, 64, 3, padding=1)
        self.d1 = nn.Linear(64 * 7 * 7, 128)
        self.d2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return self.d2(F.relu(self.d1(x.flatten(1))))


def evaluate(model, x, y, batch=1000):
    model.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out = model(x[i:i + batch])
            loss += F.cross_entropy(out, y[i:i + batch], reduction="sum").item()
            correct += (out.argmax(1) == y[i:i + batch]).sum().item()
    model.train()
    return loss / len(x), correct / len(x)


def blas_in_use():
    """Which BLAS library PyTorch actually loaded (after a product ran)."""
    torch.randn(64, 64) @ torch.randn(64, 64)
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if re.search(r"blas|mkl|dnnl", os.path.basename(path)):
                libs.add(os.path.realpath(path))
    info = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    return {"blas_info": info.group(1) if info else "?", "libraries": sorted(libs),
            "mkldnn": torch.backends.mkldnn.is_available(),
            "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "")}


def main():
    kind = sys.argv[1]
    epochs = int(sys.argv[2])
    opt_name = sys.argv[3] if len(sys.argv) > 3 else "adam"
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 128
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    torch.manual_seed(seed)
    xtr, ytr, xva, yva, xte, yte = load()
    model = MLP() if kind == "mlp" else CNN()
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    if opt_name == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    n = len(xtr)
    train_time, per_epoch = 0.0, []
    for epoch in range(epochs):
        order = torch.randperm(n)
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            idx = order[i:i + batch]
            xb, yb = xtr[idx], ytr[idx]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        dt = time.perf_counter() - t0
        train_time += dt
        vl, va = evaluate(model, xva, yva)
        per_epoch.append({"epoch": epoch + 1, "seconds": round(dt, 3),
                          "samples_per_sec": round(n / dt, 1), "val_accuracy": va})
        print(f"torch {kind} {opt_name} epoch {epoch + 1}: {dt:.2f}s {n / dt:.0f} samples/s "
              f"val acc {va:.4f}", file=sys.stderr)
    tl, ta = evaluate(model, xte, yte)
    print(json.dumps({"framework": "pytorch", "torch": torch.__version__, "model": kind,
                      "optimizer": opt_name, "epochs": epochs, "batch_size": batch, "threads": torch.get_num_threads(),
                      "samples_per_sec": n * epochs / train_time, "blas": blas_in_use(), "seconds": train_time,
                      "test_accuracy": ta, "test_loss": tl, "per_epoch": per_epoch}))


if __name__ == "__main__":
    main()
