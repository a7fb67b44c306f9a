// corpus.cjs: a deterministic corpus of varied inputs for comparing gptoss's tokenizer with
// tiktoken. Each input is raw bytes (a Buffer), so invalid UTF-8 is included. Used by
// compare.cjs (the test) and bench.cjs (the benchmark).
"use strict";

// Small seeded PRNG (mulberry32): the corpus is the same on every run and machine.
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  const pick = (xs) => xs[int(xs.length)];
  return { next, int, pick };
}

const cp = (...xs) => String.fromCodePoint(...xs);

const EN = ("the quick brown fox jumps over lazy dog it's we've they're I'm you'll he'd don't can't " +
  "won't shouldn't Hello World OpenAI model token tokenizer encode decode streaming benchmark " +
  "JavaScript TypeScript HTTPServer iPhone McDonald's O'Neill rock'n'roll U.S.A. e.g. i.e. " +
  "IT'S WE'VE THEY'RE I'M YOU'LL HE'D DON'T Aren't isn't hasn't CamelCaseWord snake_case_word " +
  "kebab-case-word ALLCAPS lowercase MiXeD cAsE naïve café résumé coöperate façade").split(" ");
const DE = ("Größe Straße Fünf Sterne Übermäßig Äpfel Öl Bücher schön heißen Maß fließen " +
  "Grüße aus München Düsseldorf Köln Bäckerei Frühstück Mädchen Fußgängerübergänge " +
  "Donaudampfschifffahrtsgesellschaftskapitän ÄÖÜ äöü ẞ SS ß Weißwürste").split(" ");
const MOJIBAKE = ["FĂźnf-Sterne", "FÃ¼nf Sterne", "Ã¤Ã¶Ã¼ÃŸ", "â€™", "â€œquotedâ€\u009d", "Ã©tÃ©",
  "GrÃ¶ÃŸe", "StraÃŸe", "ÐŸÑ€Ð¸Ð²ÐµÑ‚", "ï»¿BOM", "Â Â Â", "Ã\u0083Â©", "ç¾Žå›½"];
const EMOJI = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇩🇪", "🇺🇸", "1️⃣", "❤️", "🤷‍♀️", "🧑🏿‍💻",
  "👩‍❤️‍💋‍👨", "🐈‍⬛", "✌🏻", "🫠", "🥲", "©️", "™", "🔥🔥🔥", "\u200d", "\ufe0f", "#️⃣"];
const CJK = ["你好，世界！", "我们今天去北京。", "東京都渋谷区", "こんにちは、世界", "カタカナとひらがな",
  "日本語のテキストです。", "안녕하세요 세계", "한국어 텍스트입니다", "中文標點符號：「」『』", "ｆｕｌｌｗｉｄｔｈ１２３",
  "漢字仮名交じり文", "ㄅㄆㄇㄈ", "〇一二三"];
const ARABIC = ["مرحبا بالعالم", "السَّلَامُ عَلَيْكُمْ", "اللُّغَةُ الْعَرَبِيَّةُ", "١٢٣٤٥٦٧٨٩٠", "كتاب، قلم؛ ورقة؟",
  "שָׁלוֹם עוֹלָם", "עברית"];
const HINDI = ["नमस्ते दुनिया", "हिन्दी भाषा", "क्षत्रिय", "०१२३४५६७८९", "संस्कृतम्", "বাংলা ভাষা", "தமிழ்", "ไทยภาษา"];
const CODE = [
  "int main(int argc, char **argv) {\n\treturn 0;\n}\n",
  "def f(x):\n    if x > 0:\n        return x ** 2\n    return -x\n",
  "const add = (a, b) => a + b; // sum\n",
  "for (let i = 0; i < 10; i++) { console.log(`i=${i}`); }\r\n",
  "SELECT * FROM users WHERE id = 42 AND name LIKE '%bob%';",
  "#include <stdio.h>\n#define MAX(a,b) ((a)>(b)?(a):(b))\n",
  "    \t  x = y   +   z;;;\n\n\n",
  "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }",
  "if (a != b && c <= d || !e) { *p++ = *q--; }",
  "<div class=\"x\"><span>hi</span></div>",
  "$ git commit -m \"fix: it's done\" && echo ok\n",
  "x=1;y=2;z=x/y//3\n//comment\n/* block */\n",
];
const JSONS = [
  '{"name": "gpt-oss", "layers": 24, "experts": [1,2,3], "ok": true, "v": null}',
  '[{"a":1},{"b":[2,3,{"c":"d"}]}]',
  '{\n  "key": "value",\n  "nested": {\n    "x": -1.5e10\n  }\n}',
  '{"unicode":"\\u00fc\\u00df","emoji":"😀","esc":"a\\"b\\\\c\\n"}',
];
const URLS = ["https://example.com/path/to/page?query=1&x=y#frag", "http://localhost:8080/v1/chat/completions",
  "ftp://files.example.org/pub/", "https://de.wikipedia.org/wiki/Stra%C3%9Fe", "mailto:someone@example.com",
  "www.example.co.uk/~user/index.html", "https://github.com/openai/harmony/blob/main/src/lib.rs#L10-L20"];
const SPACES = [" ", "  ", "\t", "\n", "\r\n", "\r", "\u000b", "\u000c", "\u0085", "\u00a0", "\u1680", "\u2000",
  "\u2003", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\n\n", " \n", "\t\n ", "\u200b"];
const PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~¡¿«»…–—‘’“”•·§¶©®°±×÷€£¥₹†‡‰′″‹›【】「」、。・".split("");
const DIGITS = ["0123456789", "١٢٣", "०१२", "１２３", "²³¹", "½¾⅓", "ⅠⅡⅫ", "𝟎𝟏𝟐", "⑴⑵", "〇"];
const SPECIALS = ["<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|return|>", "<|call|>", "<|constrain|>",
  "<|endoftext|>", "<|startoftext|>", "<|endofprompt|>", "<|reserved_200018|>", "<|reserved_200013|>",
  "<|reserved_200500|>", "<|reserved_201087|>", "<|reserved_201088|>", "<|start", "start|>", "<|<|end|>|>",
  "<||>", "<|START|>", "<|end|><|start|>"];
// Case-variant contractions, including U+017F LONG S (case-folds to s) and Titlecase letters (Lt).
const CONTRACTIONS = ["'s", "'S", "'t", "'T", "'re", "'RE", "'Re", "'ve", "'VE", "'m", "'M", "'ll", "'LL", "'lL",
  "'d", "'D", "'\u017f", "'\u212a", "’s", "'x"];
const LETTERLIKE = ["ǅ", "ǈ", "ǋ", "ǲ", "ᾈ", "ʰ", "ʲ", "ˈ", "ー", "々", "ﬁ", "ꝛ", "ℌ", "ℤ", "𝐀𝐁𝐜", "ǅungla", "ǅUNGLA"];

// Blocks whose contents have not changed since Unicode 15.0, so gptoss's pinned tables (15.0) and the
// Unicode version of tiktoken's regex crate (16.0) classify every code point in them alike.
const BLOCKS = [[0x20, 0x7e], [0xa0, 0x24f], [0x250, 0x2ff], [0x300, 0x36f], [0x370, 0x3ff], [0x400, 0x52f],
  [0x530, 0x58f], [0x590, 0x5ff], [0x600, 0x6ff], [0x900, 0x97f], [0x980, 0x9ff], [0xe00, 0xe7f],
  [0x1100, 0x11ff], [0x1e00, 0x1fff], [0x2000, 0x206f], [0x2070, 0x209f], [0x2100, 0x218f], [0x2190, 0x22ff],
  [0x2500, 0x27bf], [0x3000, 0x30ff], [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0xff00, 0xffef],
  [0x1d400, 0x1d7ff], [0x1f300, 0x1f64f]];

function randomCodepoints(r, n) {
  let s = "";
  for (let i = 0; i < n; i++) {
    const [lo, hi] = r.pick(BLOCKS);
    s += cp(lo + r.int(hi - lo + 1));
  }
  return s;
}

function words(r, list, n, sep) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(r.pick(list));
  return out.join(sep === undefined ? " " : sep);
}

function sentence(r) {
  let s = words(r, EN, 3 + r.int(12));
  s = s[0].toUpperCase() + s.slice(1);
  if (r.int(3) === 0) s += r.pick(CONTRACTIONS);
  return s + r.pick([".", "!", "?", "...", ",", ";", ""]);
}

const INVALID = [[0xff], [0xfe], [0x80], [0xbf], [0xc0, 0xaf], [0xc3], [0xe2, 0x82], [0xe2, 0x28, 0xa1],
  [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xf0, 0x9f, 0x98], [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe0, 0x80, 0x80], [0xf0, 0x80, 0x80, 0x80], [0xc2], [0x80, 0x80, 0x80]];

function invalid(r) {
  const parts = [];
  const n = 1 + r.int(6);
  for (let i = 0; i < n; i++) {
    if (r.int(2)) parts.push(Buffer.from(r.pick([...EN, ...DE, ...EMOJI, ...CJK, " ", "\n", "<|end|>"]), "utf8"));
    parts.push(Buffer.from(r.pick(INVALID)));
  }
  if (r.int(4) === 0) { // raw random bytes
    const b = Buffer.alloc(1 + r.int(40));
    for (let i = 0; i < b.length; i++) b[i] = r.int(256);
    parts.push(b);
  }
  return Buffer.concat(parts);
}

const GENERATORS = {
  english: (r) => Array.from({ length: 1 + r.int(4) }, () => sentence(r)).join(r.pick([" ", "\n", "  ", "\n\n"])),
  german: (r) => words(r, DE, 2 + r.int(10)) + r.pick([".", "!", "", ":"]),
  mojibake: (r) => words(r, [...MOJIBAKE, ...DE], 1 + r.int(6)),
  emoji: (r) => words(r, [...EMOJI, ...EN], 1 + r.int(8), r.pick(["", " ", "\n"])),
  cjk: (r) => words(r, CJK, 1 + r.int(4), r.pick(["", " ", "\n"])),
  arabic: (r) => words(r, ARABIC, 1 + r.int(5)),
  hindi: (r) => words(r, HINDI, 1 + r.int(5)),
  code: (r) => words(r, CODE, 1 + r.int(3), ""),
  json: (r) => r.pick(JSONS),
  whitespace: (r) => {
    let s = "";
    const n = 1 + r.int(12);
    for (let i = 0; i < n; i++) s += r.int(3) ? r.pick(SPACES).repeat(1 + r.int(5)) : r.pick([...EN, "!", "1", "😀", "ß"]);
    return s;
  },
  digits: (r) => {
    let s = "";
    const n = 1 + r.int(5);
    for (let i = 0; i < n; i++) {
      const d = r.pick(DIGITS);
      const len = 1 + r.int(20);
      for (let k = 0; k < len; k++) s += [...d][r.int([...d].length)];
      s += r.pick(["", " ", ".", ",", "x", "\n", "$", "%"]);
    }
    return s;
  },
  punctuation: (r) => {
    let s = "";
    const n = 1 + r.int(25);
    for (let i = 0; i < n; i++) s += r.pick(PUNCT) + (r.int(4) ? "" : r.pick(["\n", "\r\n", "/", " ", "\r", "a", "//\n"]));
    return s;
  },
  url: (r) => r.pick(["see ", "", "(", "<", "link: "]) + r.pick(URLS) + r.pick(["", ")", ">", ".", "\n"]),
  longword: (r) => {
    const len = 100 + r.int(r.int(8) === 0 ? 30000 : 2000);
    const kind = r.int(6);
    if (kind === 0) return "a".repeat(len);
    if (kind === 1) return " ".repeat(len) + (r.int(2) ? "x" : "");
    if (kind === 2) return Array.from({ length: len }, () => "abcdefghijklmnopqrstuvwxyz"[r.int(26)]).join("");
    if (kind === 3) return Array.from({ length: len }, () => "0123456789abcdef"[r.int(16)]).join("");
    if (kind === 4) return "Donaudampfschiff".repeat(Math.ceil(len / 16));
    return randomCodepoints(r, len / 4).replace(/\s/g, "");
  },
  special: (r) => words(r, [...SPECIALS, ...EN, " ", "\n"], 1 + r.int(8), r.pick(["", " "])),
  letterlike: (r) => words(r, [...LETTERLIKE, ...CONTRACTIONS, ...EN], 1 + r.int(8), r.pick(["", " "])),
  random: (r) => randomCodepoints(r, 1 + r.int(60)),
  mixed: (r) => {
    const keys = Object.keys(GENERATORS).filter((k) => k !== "mixed" && k !== "longword" && k !== "invalid");
    return Array.from({ length: 2 + r.int(5) }, () => GENERATORS[r.pick(keys)](r)).join(r.pick(["", " ", "\n"]));
  },
  invalid: null, // bytes, below
};

// Returns [{kind, bytes}] of `count` inputs; every generator gets its share.
function corpus(count, seed) {
  const r = rng(seed === undefined ? Number(process.env.CORPUS_SEED || 20240805) : seed);
  const kinds = Object.keys(GENERATORS);
  const out = [];
  for (let i = 0; i < count; i++) {
    const kind = kinds[i % kinds.length];
    const bytes = kind === "invalid" ? invalid(r) : Buffer.from(GENERATORS[kind](r), "utf8");
    out.push({ kind, bytes });
  }
  return out;
}

module.exports = { corpus, rng };
