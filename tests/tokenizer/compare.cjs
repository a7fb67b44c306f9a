// compare.cjs: prints the tiktoken reference for the corpus, one input per line:
//   KIND <TAB> MODE <TAB> HEX(bytes) <TAB> ids separated by spaces
// MODE "text": encode_ordinary (special literals are text); "special": encode(text, "all").
// The bytes are what gptoss encodes; tiktoken gets them as a JS string, i.e. after a lossy UTF-8
// decode (TextDecoder: one U+FFFD per maximal invalid subpart), which is the behaviour gptoss
// matches. Usage: node compare.cjs [COUNT]
"use strict";
const { corpus } = require("./corpus.cjs");
const { harmonyEncoding } = require("./harmony.cjs");

const count = Number(process.argv[2] || 2000);
const enc = harmonyEncoding();
const out = [];
for (const { kind, bytes } of corpus(count)) {
  const text = new TextDecoder("utf-8").decode(bytes);
  const hex = bytes.toString("hex");
  out.push(`${kind}\ttext\t${hex}\t${Array.from(enc.encode_ordinary(text)).join(" ")}`);
  out.push(`${kind}\tspecial\t${hex}\t${Array.from(enc.encode(text, "all")).join(" ")}`);
}
enc.free();
process.stdout.write(out.join("\n") + "\n");
