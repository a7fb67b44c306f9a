// harmony.cjs: tiktoken-WASM (npm `tiktoken`, pinned in tests/package-lock.json) set up as
// o200k_harmony: o200k_base's ranks and pattern plus the whole harmony special-token table from
// shared/vocab/o200k_harmony_special_tokens.tsv.
"use strict";
const fs = require("fs");
const path = require("path");
const { Tiktoken } = require("tiktoken/lite");
const o200k = require("tiktoken/encoders/o200k_base.json");

function sharedDir() {
  return process.env.GPTOSS_SHARED || path.join(__dirname, "..", "..", "..", "shared");
}

function harmonySpecials() {
  const tsv = fs.readFileSync(path.join(sharedDir(), "vocab", "o200k_harmony_special_tokens.tsv"), "utf8");
  const specials = {};
  for (const line of tsv.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const [name, id] = line.split("\t");
    specials[name] = Number(id);
  }
  return specials;
}

function harmonyEncoding() {
  return new Tiktoken(o200k.bpe_ranks, harmonySpecials(), o200k.pat_str);
}

module.exports = { harmonyEncoding, harmonySpecials };
