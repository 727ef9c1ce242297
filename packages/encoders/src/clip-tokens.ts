import { decodeHTML, decodeHTMLStrict } from 'entities';
import { InvalidArgumentError } from '@vlfer/core';

/** CLIP's text context: start token + 75 BPE tokens + end token. */
export const CLIP_CONTEXT_LENGTH = 77;

/** Token rows fitted to CLIP's context. */
export interface ClipTokenRows {
  /** Token ids, row-major [rows · contextLength]. */
  ids: number[];
  /** [rows, contextLength] */
  dims: [number, number];
  /** Per row: how many ids are real tokens (start … end), the rest is padding; ≤ contextLength. */
  lengths: number[];
  /** Per row: the number of tokens (start and end included) before truncation. */
  tokens: number[];
  /** Rows that were longer than the context and truncated, in row order. */
  truncated: number[];
}

/**
 * `clip.tokenize(texts, context_length, truncate=True)` of openai/CLIP (what Exp-CLIP calls) on rows already
 * encoded as `start + BPE tokens + end`: a row longer than the context keeps its first `contextLength` ids and gets
 * the end token in its last slot, so the text tower (which pools at the end token, the largest id) still pools
 * at the end and not at the start token; shorter rows are padded with `pad`. Every tokenizer path of vlfer
 * (transformers.js directories, safetensors, OpenAI `.pt`, the browser build) fits its ids with this function.
 * @param encoded one id list per text, each ending with `eot`
 * @param specials `eot`: <|endoftext|> id (49407 in CLIP's vocabulary); `pad`: the padding id
 * @throws InvalidArgumentError when a row is empty or does not end with the end token (not a CLIP tokenisation)
 */
export function fitClipContext(
  encoded: readonly (readonly number[])[],
  specials: { eot: number; pad: number },
  contextLength: number = CLIP_CONTEXT_LENGTH,
): ClipTokenRows {
  const fn = 'fitClipContext';
  if (!Number.isInteger(contextLength) || contextLength < 2)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'contextLength',
      message: `must be an integer ≥ 2, got ${contextLength}`,
    });
  const { eot, pad } = specials;
  const ids = new Array<number>(encoded.length * contextLength).fill(pad);
  const lengths: number[] = [];
  const tokens: number[] = [];
  const truncated: number[] = [];
  encoded.forEach((row, r) => {
    if (row.length < 2 || row[row.length - 1] !== eot)
      throw new InvalidArgumentError({
        functionName: fn,
        argument: 'encoded',
        message: `row ${r} (${row.length} ids) does not end with the end token ${eot}; expected start + BPE tokens + end`,
      });
    tokens.push(row.length);
    const n = Math.min(row.length, contextLength);
    for (let j = 0; j < n; j++) ids[r * contextLength + j] = row[j]!;
    if (row.length > contextLength) {
      ids[r * contextLength + contextLength - 1] = eot;
      truncated.push(r);
    }
    lengths.push(n);
  });
  return { ids, dims: [encoded.length, contextLength], lengths, tokens, truncated };
}

/**
 * One notice per truncated prompt, for a `log` callback: its position, its token count and its start.
 * @returns lines (empty when nothing was truncated)
 */
export function truncationNotices(texts: readonly string[], rows: ClipTokenRows): string[] {
  const C = rows.dims[1];
  return rows.truncated.map((r) => {
    const t = texts[r] ?? '';
    const head = t.length > 60 ? `${t.slice(0, 60)}…` : t;
    return `prompt ${r + 1} of ${texts.length} has ${rows.tokens[r]} tokens, more than CLIP's ${C}: its end is cut (the end token kept in slot ${C}, as clip.tokenize(truncate=True) does): ${JSON.stringify(head)}`;
  });
}

/** ftfy's single-character Latin ligatures and digraphs (`fix_latin_ligatures`). */
const LIGATURES: Readonly<Record<string, string>> = {
  Ĳ: 'IJ',
  ĳ: 'ij',
  ŉ: 'ʼn',
  Ǳ: 'DZ',
  ǲ: 'Dz',
  ǳ: 'dz',
  Ǆ: 'DŽ',
  ǅ: 'Dž',
  ǆ: 'dž',
  Ǉ: 'LJ',
  ǈ: 'Lj',
  ǉ: 'lj',
  Ǌ: 'NJ',
  ǋ: 'Nj',
  ǌ: 'nj',
  ﬀ: 'ff',
  ﬁ: 'fi',
  ﬂ: 'fl',
  ﬃ: 'ffi',
  ﬄ: 'ffl',
  ﬅ: 'ſt',
  ﬆ: 'st',
};
const LIGATURE_RE = new RegExp(`[${Object.keys(LIGATURES).join('')}]`, 'g');
/** ftfy's `fix_character_width`: U+3000 and the half/fullwidth forms U+FF01–U+FFEF whose NFKC form differs. */
const WIDTH_RE = /[\u3000\uff01-\uffef]/g;
const widthForm = (c: string) => (c === '\u3000' ? ' ' : c.normalize('NFKC'));
/** ftfy's `remove_control_chars` set. */
const CONTROL_RE = /[\u0000-\u0008\u000b\u000e-\u001f\u007f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;
const ANSI_RE = /\u001b\[((?:\d|;)*)([a-zA-Z])/g;

/** Windows-1252 (as browsers and ftfy's `fix_c1_controls` read C1 controls; its undefined bytes stay as they are). */
const CP1252_C1 =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';
const c1Form = (c: string) => CP1252_C1[c.charCodeAt(0) - 0x80]!;

/**
 * A numeric character reference as Python's `html.unescape` reads it: C1 references as Windows-1252, NUL, surrogates
 * and numbers past U+10FFFF as U+FFFD, control characters and noncharacters dropped.
 */
function numericReference(digits: string): string {
  const n = /^[xX]/.test(digits) ? parseInt(digits.slice(1), 16) : parseInt(digits, 10);
  if (n === 0) return '\ufffd';
  if (n === 0x0d) return '\r';
  if (n >= 0x80 && n <= 0x9f) return c1Form(String.fromCharCode(n));
  if ((n >= 0xd800 && n <= 0xdfff) || n > 0x10ffff) return '\ufffd';
  const invalid =
    (n >= 0x1 && n <= 0x8) ||
    n === 0xb ||
    (n >= 0xe && n <= 0x1f) ||
    n === 0x7f ||
    (n >= 0xfdd0 && n <= 0xfdef) ||
    (n & 0xfffe) === 0xfffe;
  return invalid ? '' : String.fromCodePoint(n);
}

/** Python's `html.unescape`: numeric references as {@link numericReference}, named ones as HTML5 reads them. */
function htmlUnescape(text: string): string {
  if (!text.includes('&')) return text;
  return text
    .split(/(&#(?:[0-9]+|[xX][0-9a-fA-F]+);?)/)
    .map((part, k) => (k % 2 === 1 ? numericReference(part.replace(/^&#|;$/g, '')) : decodeHTML(part)))
    .join('');
}

/**
 * ftfy's `unescape_html`: entities ending in ';' (`&#?[0-9A-Za-z]{1,24};`), and lowercase-named ones written in capitals
 * (`&EACUTE;` → 'É') unless the capitals start with an entity of their own (`&LTIMES;` is left to `html.unescape`);
 * others are left as written.
 */
function unescapeEntities(text: string): string {
  return text.replace(/&#?[0-9A-Za-z]{1,24};/g, (m) => {
    if (m.startsWith('&#')) {
      const decoded = htmlUnescape(m);
      return decoded.includes(';') ? m : decoded;
    }
    const decoded = decodeHTMLStrict(m);
    if (decoded !== m) return decoded;
    const name = m.slice(1, -1);
    if (name !== name.toUpperCase() || htmlUnescape(m) !== m) return m;
    const lower = decodeHTMLStrict(`&${name.toLowerCase()};`);
    return lower === `&${name.toLowerCase()};` ? m : lower.toUpperCase();
  });
}

/** ftfy's `fix_and_explain` without its mojibake repair, repeated until nothing changes; `html`: unescape entities. */
function ftfyFixes(segment: string, html: boolean): string {
  let t = segment;
  for (;;) {
    const before = t;
    if (html) t = unescapeEntities(t);
    t = t
      .replace(/[\x80-\x9f]/g, c1Form)
      .replace(LIGATURE_RE, (c) => LIGATURES[c]!)
      .replace(WIDTH_RE, widthForm)
      .replace(/[\u02bc\u2018-\u201b]/g, "'")
      .replace(/[\u201c-\u201f]/g, '"')
      .replace(/\r\n/g, '\n')
      .replace(/[\r\u2028\u2029\u0085]/g, '\n')
      .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
      .replace(ANSI_RE, '')
      .replace(CONTROL_RE, '')
      .normalize('NFC');
    if (t === before) return t;
  }
}

/**
 * The text clean-up of openai/CLIP's `clip.tokenize` before BPE (`basic_clean` + `whitespace_clean`; the tokenizer
 * then lowercases): ftfy's `fix_text` line by line — HTML entities (until a line holds '<'), C1 controls as
 * Windows-1252, Latin ligatures, character width, curly quotes straightened, line breaks, lone surrogates, terminal
 * escapes and control characters removed, NFC, repeated until nothing changes — then `html.unescape` twice (Python's),
 * whitespace runs to one space, trimmed. Not done: ftfy's mojibake repair (`fix_encoding`: text decoded with the wrong
 * code page, e.g. 'cafÃ©'), which needs its byte-level heuristics.
 */
export function clipBasicClean(text: string): string {
  let html = true;
  const fixed = (text.match(/[^\n]*\n|[^\n]+$/g) ?? [])
    .map((segment) => {
      if (segment.includes('<')) html = false; // ftfy: from the first line holding '<' on
      return ftfyFixes(segment, html);
    })
    .join('');
  return htmlUnescape(htmlUnescape(fixed)).replace(/\s+/g, ' ').trim();
}
