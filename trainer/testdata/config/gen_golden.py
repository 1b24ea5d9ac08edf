#!/usr/bin/env python3
"""Golden values for trainer/schedule.go, from transformers itself.

Pinned: transformers 4.46.3, torch 1.13 (Debian build). Run with
/work/main/.venv/bin/python trainer/testdata/config/gen_golden.py; it writes
schedule_golden.json beside itself.

- lr: transformers.optimization.get_scheduler with a dummy SGD optimizer,
  warmup steps from TrainingArguments.get_warmup_steps (called unbound on a
  namespace, since TrainingArguments needs accelerate, which is not installed);
  the value recorded at step s is scheduler.get_last_lr()[0] after s calls of
  scheduler.step().
- total_steps: the dataloader length is len(torch DataLoader(range(n),
  batch_size)) (drop_last False, transformers' default); the step count uses
  the lines of Trainer._inner_training_loop quoted below, which the script
  checks are still in the installed transformers' source.
"""
import inspect
import json
import math
import os
import warnings

import torch
import transformers
from transformers import Trainer, TrainingArguments
from transformers.optimization import get_scheduler

assert transformers.__version__ == "4.46.3", transformers.__version__

HERE = os.path.dirname(os.path.abspath(__file__))

# ---- learning-rate schedules ----


def warmup_steps_for(warmup_steps, warmup_ratio, total):
    ns = type("Args", (), {})()
    ns.warmup_steps = warmup_steps
    ns.warmup_ratio = warmup_ratio
    return TrainingArguments.get_warmup_steps(ns, total)


def lr_curve(name, lr, warmup_steps, warmup_ratio, total, extra):
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=lr)
    w = warmup_steps_for(warmup_steps, warmup_ratio, total)
    sched = get_scheduler(name, opt, num_warmup_steps=w, num_training_steps=total)
    lrs = []
    for _ in range(total + extra + 1):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    return w, lrs


lr_cases = []
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for name in ["linear", "cosine", "constant", "constant_with_warmup"]:
        for lr in [5e-7, 1e-3]:
            for total in [10, 100, 1000]:
                for warmup_steps, warmup_ratio in [(0, 0.0), (0, 0.1), (0, 0.03), (7, 0.0), (3, 0.5)]:
                    w, lrs = lr_curve(name, lr, warmup_steps, warmup_ratio, total, extra=5)
                    if total <= 100:
                        steps = list(range(len(lrs)))
                    else:  # sample: every step around warmup and the end, a stride elsewhere
                        steps = sorted(set(range(0, w + 3)) | set(range(0, len(lrs), 37)) | set(range(total - 3, len(lrs))))
                    lr_cases.append(
                        {
                            "lr_scheduler_type": name,
                            "learning_rate": lr,
                            "warmup_steps": warmup_steps,
                            "warmup_ratio": warmup_ratio,
                            "total_steps": total,
                            "resolved_warmup": w,
                            "steps": steps,
                            "lrs": [lrs[s] for s in steps],
                        }
                    )

# ---- total steps ----

QUOTED = [
    "num_update_steps_per_epoch = len_dataloader // args.gradient_accumulation_steps",
    "num_update_steps_per_epoch = max(num_update_steps_per_epoch, 1)",
    "if args.max_steps > 0:",
    "max_steps = args.max_steps",
    "max_steps = math.ceil(args.num_train_epochs * num_update_steps_per_epoch)",
]
src = inspect.getsource(Trainer._inner_training_loop)
for line in QUOTED:
    assert line in src, "transformers' step formula changed: " + line


def total_steps(n, batch, accum, epochs, max_steps):
    len_dataloader = len(torch.utils.data.DataLoader(range(n), batch_size=batch, drop_last=False))
    num_update_steps_per_epoch = len_dataloader // accum
    num_update_steps_per_epoch = max(num_update_steps_per_epoch, 1)
    if max_steps > 0:
        return num_update_steps_per_epoch, max_steps
    return num_update_steps_per_epoch, math.ceil(epochs * num_update_steps_per_epoch)


step_cases = []
for n in [0, 1, 7, 8, 9, 100, 1000, 12345]:
    for batch in [1, 3, 8, 64]:
        for accum in [1, 2, 4, 16]:
            for epochs in [1.0, 3.0, 0.5, 2.7]:
                for max_steps in [-1, 5]:
                    per_epoch, total = total_steps(n, batch, accum, epochs, max_steps)
                    step_cases.append(
                        {
                            "dataset_len": n,
                            "per_device_train_batch_size": batch,
                            "gradient_accumulation_steps": accum,
                            "num_train_epochs": epochs,
                            "max_steps": max_steps,
                            "steps_per_epoch": per_epoch,
                            "total_steps": total,
                        }
                    )

out = os.path.join(HERE, "schedule_golden.json")
with open(out, "w") as f:
    json.dump({"transformers": transformers.__version__, "lr": lr_cases, "total_steps": step_cases}, f, separators=(",", ":"))
    f.write("\n")
print(f"wrote {out}: {len(lr_cases)} lr curves, {len(step_cases)} step counts")
