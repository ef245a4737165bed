#!/usr/bin/python3
"""PyTorch anchor of the engine benchmark (bench/engine.sh): trains the same
MLP and CNN as examples/train-mlp.json / train-cnn.json on Fashion-MNIST,
on one thread with flush-to-zero, and prints one JSON line per run.

Same recipe as hpsearch: the last 10,000 training images held out for
validation (so 50,000 train), batch 128 drawn from a fresh shuffle every
epoch, Kaiming-normal weights and zero biases, Adam(1e-3) (or SGD with
momentum 0.9); the pixel scaling ("unit": / 255, or "standardize": per-pixel
mean and population std of the 50,000 training images) and the learning-rate
schedule ("constant", or "cosine"/"linear" over the whole run to lr/100 by
default) are read from the example config (examples/train-KIND.json) and
applied the way the engine applies them (docs/engine-optim-data.md).
samples/s counts training samples over the time spent in the training loop
only (batch gather, forward, backward, update), as hpsearch
does; the data set is read from /usr/share/datasets/fashion-mnist with gzip
and numpy, never downloaded.

With PRECISION "bf16" the forward pass and the loss run under
torch.autocast("cpu", dtype=torch.bfloat16) (products in bf16 with fp32
accumulation, weights and optimizer in fp32: PyTorch's own mixed precision),
evaluation too, as hpsearch's "precision": "bf16" does.

usage: engine_torch.py {mlp|cnn} EPOCHS [adam|momentum] [BATCH] [SEED] [fp32|bf16]
"""
import contextlib
import gzip
import json
import math
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


def recipe(kind):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples",
                        f"train-{kind}.json")
    with open(path) as f:
        cfg = json.load(f)
    sched = cfg.get("optimizer", {}).get("schedule", "constant")
    if isinstance(sched, str):
        sched = {"type": sched}
    if sched["type"] not in ("constant", "cosine", "linear") or sched.get("warmup") or \
            sched.get("unit", "step") != "step":
        sys.exit(f"engine_torch.py: schedule {sched} of {path} is not mirrored here")
    scaling = cfg.get("data", {}).get("scaling", "unit")
    if scaling not in ("unit", "standardize"):
        sys.exit(f"engine_torch.py: scaling {scaling!r} of {path} is not mirrored here")
    return scaling, sched


def schedule_lr(sched, lr0, k, total):
    """The engine's hp_schedule_lr for constant/linear/cosine (no warm-up)."""
    if sched["type"] == "constant":
        return lr0
    steps = sched.get("steps") or total
    end = sched.get("end_lr", lr0 / 100)
    if k >= steps:
        return end
    if sched["type"] == "linear":
        return (1 - k / steps) * lr0 + k / steps * end
    return end + (lr0 - end) * 0.5 * (1 + math.cos(math.pi * k / steps))


def load(scaling="unit"):
    xtr = read_idx(f"{DATA}/train-images-idx3-ubyte.gz")
    ytr = read_idx(f"{DATA}/train-labels-idx1-ubyte.gz")
    xte = read_idx(f"{DATA}/t10k-images-idx3-ubyte.gz")
    yte = read_idx(f"{DATA}/t10k-labels-idx1-ubyte.gz")
    if scaling == "standardize":  # per pixel, fitted on the training rows
        fit = xtr[:-10000].reshape(len(xtr) - 10000, -1).astype(np.float64)
        mean, sd = fit.mean(0), fit.std(0)
        scale = np.where(sd > 1e-12, 1.0 / np.where(sd > 1e-12, sd, 1.0), 1.0)
        scale, shift = scale.astype(np.float32), (-mean * scale).astype(np.float32)
    else:
        scale, shift = np.float32(1.0 / 255.0), np.float32(0.0)
    def to_x(a):
        flat = a.reshape(len(a), -1).astype(np.float32) * scale + shift
        return torch.from_numpy(flat.astype(np.float32)).reshape(-1, 1, 28, 28)
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


def autocast(precision):
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def evaluate(model, x, y, batch=1000, precision="fp32"):
    model.eval()
    correct, loss = 0, 0.0
    with torch.no_grad(), autocast(precision):
        for i in range(0, len(x), batch):
            out = model(x[i:i + batch])
            loss += F.cross_entropy(out.float(), y[i:i + batch], reduction="sum").item()
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
    precision = sys.argv[6] if len(sys.argv) > 6 else "fp32"
    if precision not in ("fp32", "bf16"):
        sys.exit(f"engine_torch.py: precision {precision!r} is not fp32 or bf16")
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    torch.manual_seed(seed)
    scaling, sched = recipe(kind)
    xtr, ytr, xva, yva, xte, yte = load(scaling)
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
    lr0, step, total = opt.param_groups[0]["lr"], 0, epochs * ((n + batch - 1) // batch)
    train_time, train_cpu, per_epoch = 0.0, 0.0, []
    for epoch in range(epochs):
        order = torch.randperm(n)
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, n, batch):
            idx = order[i:i + batch]
            xb, yb = xtr[idx], ytr[idx]
            for g in opt.param_groups:
                g["lr"] = schedule_lr(sched, lr0, step, total)
            step += 1
            opt.zero_grad(set_to_none=True)
            with autocast(precision):
                loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        dt = time.perf_counter() - t0
        train_time += dt
        train_cpu += time.process_time() - c0
        vl, va = evaluate(model, xva, yva, precision=precision)
        per_epoch.append({"epoch": epoch + 1, "seconds": round(dt, 3),
                          "samples_per_sec": round(n / dt, 1), "val_accuracy": va})
        print(f"torch {kind} {opt_name} epoch {epoch + 1}: {dt:.2f}s {n / dt:.0f} samples/s "
              f"val acc {va:.4f}", file=sys.stderr)
    tl, ta = evaluate(model, xte, yte, precision=precision)
    print(json.dumps({"framework": "pytorch", "torch": torch.__version__, "model": kind,
                      "optimizer": opt_name, "precision": precision, "seed": seed, "scaling": scaling, "schedule": sched,
                      "epochs": epochs, "batch_size": batch, "threads": torch.get_num_threads(),
                      "samples_per_sec": n * epochs / train_time,
                      "cpu_samples_per_sec": n * epochs / train_cpu, "blas": blas_in_use(), "seconds": train_time,
                      "test_accuracy": ta, "test_loss": tl, "per_epoch": per_epoch}))


if __name__ == "__main__":
    main()
