// gen_llamacpp.mjs — greedy continuations of SmolLM2-135M-Instruct (Q4_1 GGUF) by
// llama.cpp itself, through npm node-llama-cpp 3.22.1 (prebuilt linux-x64 CPU
// binaries): the independent reference for our GGUF conversion and model.
// Run by `make golden` (it installs node-llama-cpp into internal/e2e/.node).
// Usage: node gen_llamacpp.mjs MODEL.gguf > llamacpp_greedy.json
import {getLlama} from "node-llama-cpp";
const [modelPath] = process.argv.slice(2);
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath});
const prompts = [
  "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
  "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nName three primary colors.<|im_end|>\n<|im_start|>assistant\n",
  "The quick brown fox",
];
const out = [];
for (const p of prompts) {
  const context = await model.createContext({contextSize: 256, batchSize: 256, threads: 2});
  const seq = context.getSequence();
  const ids = Array.from(model.tokenize(p, true));
  const gen = [];
  for await (const t of seq.evaluate(ids, {temperature: 0})) { gen.push(t); if (gen.length >= 32) break; }
  out.push({prompt: p, prompt_ids: ids, greedy: gen.map(Number)});
  await context.dispose();
}
console.log(JSON.stringify({generator: "node-llama-cpp 3.22.1 (llama.cpp prebuilt linux-x64 CPU)", cases: out}, null, 1));
