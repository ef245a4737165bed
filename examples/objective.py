#!/usr/bin/env python3
"""A command objective for hpsearch in plain Python (no imports beyond the
standard library): it stands in for any trainer written in any language.

hpsearch starts it once per trial (examples/command-study.json) with the
trial's parameters on the command line ("$lr" references in the argv), and
also as environment variables (HPSEARCH_PARAM_lr=...) and as one JSON object
(HPSEARCH_PARAMS). It reports on stdout, one JSON object per line:

    {"step": 3, "value": 0.41}     an intermediate value (the daemon may prune:
                                   it then kills this process group)
    {"value": 0.37}                the final value of the trial

Anything on stderr goes to the daemon's log. A non-zero exit status, a crash
or a line that is not JSON makes the trial FAIL with the reason stored.
"""
import argparse
import json
import math
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--activation", default="relu")
    ap.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args()

    # The same parameters arrive as JSON too; show that they agree.
    params = json.loads(os.environ.get("HPSEARCH_PARAMS", "{}"))
    print(f"trial {os.environ.get('HPSEARCH_TRIAL_NUMBER', '?')}: {params}", file=sys.stderr)

    # A made-up learning curve: the loss falls towards a floor that depends
    # on how far lr and momentum are from a sweet spot, at a speed set by lr.
    floor = (0.1 + (math.log10(args.lr) + 2.0) ** 2 * 0.05 + (args.momentum - 0.9) ** 2
             + 0.02 * abs(args.layers - 3) + (0.0 if args.activation == "relu" else 0.03))
    speed = min(1.0, args.lr * 20)
    loss = 2.3
    for epoch in range(args.epochs):
        loss = floor + (loss - floor) * (1.0 - speed)
        print(json.dumps({"step": epoch, "value": loss}), flush=True)
        time.sleep(0.05)  # stands for real work
    print(json.dumps({"value": loss}), flush=True)


if __name__ == "__main__":
    main()
