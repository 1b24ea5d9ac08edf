// gen_llamacpp_tok.mjs — llama.cpp's own tokenization (npm node-llama-cpp 3.22.1, from the
// GGUF's vocabulary, special tokens parsed) of the 2,582 strings of
// hf/tokenizer/testdata/golden_smollm2.json.gz, for the converted tokenizer.json.
// Run by `make golden`. Usage: node gen_llamacpp_tok.mjs MODEL.gguf GOLDEN.json.gz | gzip -n > llamacpp_tokens.json.gz
import {getLlama} from "node-llama-cpp";
import fs from "fs"; import zlib from "zlib";
const [modelPath, goldenGz] = process.argv.slice(2);
const g = JSON.parse(zlib.gunzipSync(fs.readFileSync(goldenGz)));
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath, vocabOnly: true});
const out = g.cases.map(c => ({text: c.text, ids: Array.from(model.tokenize(c.text, true)).map(Number)}));
console.log(JSON.stringify({generator: "node-llama-cpp 3.22.1 tokenize(text, specialTokens=true) on the GGUF", cases: out}));
