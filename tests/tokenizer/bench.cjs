// bench.cjs: writes a ~SIZE MB mixed corpus (every generator of corpus.cjs except the pathological
// long words; as valid UTF-8, so both encoders see identical text) to OUT, times tiktoken-WASM's
// encode_ordinary on it (best of 3, one thread) and writes its ids to OUT.ids (little-endian u32) so
// the C side can check it produced the same. Prints "tiktoken-wasm BYTES TOKENS SECONDS".
// Usage: node bench.cjs OUT [SIZE_MB]
"use strict";
const fs = require("fs");
const { corpus } = require("./corpus.cjs");
const { harmonyEncoding } = require("./harmony.cjs");

const out = process.argv[2];
const target = Number(process.argv[3] || 10) * 1e6;
const parts = [];
let size = 0;
for (let seed = 1; size < target; seed++) {
  for (const { kind, bytes } of corpus(2000, seed)) {
    if (kind === "longword") continue;
    const text = new TextDecoder("utf-8").decode(bytes) + "\n";
    parts.push(text);
    size += Buffer.byteLength(text);
    if (size >= target) break;
  }
}
const text = parts.join("");
fs.writeFileSync(out, text);
const enc = harmonyEncoding();
let best = Infinity, ids = null;
for (let i = 0; i < 3; i++) {
  const t0 = process.hrtime.bigint();
  ids = enc.encode_ordinary(text);
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  if (dt < best) best = dt;
}
enc.free();
fs.writeFileSync(out + ".ids", Buffer.from(ids.buffer, ids.byteOffset, ids.byteLength));
console.log(`tiktoken-wasm ${Buffer.byteLength(text)} ${ids.length} ${best}`);
