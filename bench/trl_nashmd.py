"""The peer of `make bench`: TRL's own NashMDTrainer on the same models and settings.

nashmd-bench runs this with bench/.venv/bin/python (TRL 0.12.2, transformers 4.46.3,
Debian's torch 1.13.1; see bench/requirements.txt) and reads the JSON object that it
prints as its last line:

    {"trl": "0.12.2", "torch": "...", "threads": 2, "steps": [seconds, ...],
     "phases": {"generate": s, "judge": s, "logprobs": s, "backward": s, "optimizer": s},
     "prompts_per_s": x}

Times exclude the first `--warmup` steps. `phases` are sums over the timed steps of
TRL's own methods: _generate_completions (both streams), _compute_rewards (the reward
model judge), _compute_logprobs (policy with grad + reference), the backward, and the
optimizer step (between the pre- and post-optimizer callbacks).
"""

import argparse
import json
import os
import sys
import tempfile
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--policy", required=True, help="HF directory of the policy (also the reference)")
    ap.add_argument("--reward", required=True, help="HF directory of the reward model")
    ap.add_argument("--prompts", required=True, help="jsonl with a conversational 'prompt' column")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=0.9)
    ap.add_argument("--steps", type=int, default=3, help="timed steps")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    # Imported after set_num_threads so every library sees the same setting.
    import datasets
    import transformers
    import trl
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback
    from trl import NashMDConfig, NashMDTrainer

    # Debian's torch 1.13 cannot import torch.distributed.fsdp under Python 3.11
    # (a dataclass with a mutable default); generate() only asks whether the
    # model is FSDP-wrapped, and it is not.
    import transformers.generation.utils

    transformers.generation.utils.is_fsdp_managed_module = lambda m: False
    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    tok = AutoTokenizer.from_pretrained(a.policy)
    policy = AutoModelForCausalLM.from_pretrained(a.policy, torch_dtype=torch.float32)
    ref = AutoModelForCausalLM.from_pretrained(a.policy, torch_dtype=torch.float32)
    reward = AutoModelForSequenceClassification.from_pretrained(a.reward, torch_dtype=torch.float32, num_labels=1)
    ds = datasets.load_dataset("json", data_files=a.prompts, split="train")

    total = a.warmup + a.steps
    steps, marks = [], {}
    phases = {"generate": 0.0, "judge": 0.0, "logprobs": 0.0, "backward": 0.0, "optimizer": 0.0}

    def timed(name, fn):
        def wrapper(*args, **kw):
            t0 = time.perf_counter()
            out = fn(*args, **kw)
            if marks.get("timing"):
                phases[name] += time.perf_counter() - t0
            return out

        return wrapper

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            marks["timing"] = state.global_step >= a.warmup
            marks["t0"] = time.perf_counter()

        def on_pre_optimizer_step(self, args, state, control, **kw):
            marks["opt"] = time.perf_counter()

        def on_optimizer_step(self, args, state, control, **kw):
            if marks["timing"]:
                phases["optimizer"] += time.perf_counter() - marks["opt"]

        def on_step_end(self, args, state, control, **kw):
            if marks["timing"]:
                steps.append(time.perf_counter() - marks["t0"])

    with tempfile.TemporaryDirectory() as out:
        args = NashMDConfig(
            output_dir=out,
            per_device_train_batch_size=a.batch,
            gradient_accumulation_steps=1,
            max_new_tokens=a.max_new_tokens,
            temperature=a.temperature,
            beta=0.1,
            mixture_coef=0.5,
            learning_rate=5e-7,
            max_steps=total,
            logging_steps=1,
            save_strategy="no",
            report_to=[],
            use_cpu=True,
            bf16=False,
            seed=42,
            disable_tqdm=True,
            dataloader_num_workers=0,
        )
        trainer = NashMDTrainer(
            model=policy,
            ref_model=ref,
            reward_model=reward,
            args=args,
            processing_class=tok,
            train_dataset=ds,
            callbacks=[Clock()],
        )
        trainer._generate_completions = timed("generate", trainer._generate_completions)
        trainer._compute_rewards = timed("judge", trainer._compute_rewards)
        trainer._compute_logprobs = timed("logprobs", trainer._compute_logprobs)
        trainer.accelerator.backward = timed("backward", trainer.accelerator.backward)
        trainer.train()

    if len(steps) != a.steps:
        sys.exit(f"trl_nashmd: timed {len(steps)} steps, wanted {a.steps}")
    print(
        json.dumps(
            {
                "trl": trl.__version__,
                "transformers": transformers.__version__,
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "batch": a.batch,
                "max_new_tokens": a.max_new_tokens,
                "steps": steps,
                "phases": phases,
                "prompts_per_s": a.batch * len(steps) / sum(steps),
                "peak_rss_mb": vm_hwm_mb(),
            }
        )
    )


def vm_hwm_mb():
    """This process's resident high-water mark (VmHWM, per address space; not
    getrusage's ru_maxrss, which inherits the launching process's peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    main()
