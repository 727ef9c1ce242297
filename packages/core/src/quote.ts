/**
 * Input quoted in messages: every error that echoes what it read (a CSV cell or line, a lock file, a path) goes
 * through these, so a 60 MB line prints as 200 characters and a newline in a path cannot split a message.
 */

/** Characters of an input that a message quotes, at most. */
export const QUOTE_LIMIT = 200;

// C0/C1 controls, DEL, and the line and paragraph separators (which some terminals and JSON readers break on)

const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * `value` for a message: `'abc'` when it is short and plain (printable, no quotes or backslashes), else
 * double-quoted with JSON escapes, cut to `limit` characters: `"abc…" (60000000 characters, the first 200 shown)`.
 */
export function quoteInput(value: string, limit = QUOTE_LIMIT): string {
  const s = String(value);
  if (s.length <= limit && !UNPRINTABLE.test(s) && !/['"\\]/.test(s)) return `'${s}'`;
  return quoteJson(s, limit);
}

/** `value` double-quoted with JSON escapes (also U+007F–U+009F, U+2028/9), cut to `limit` characters as `quoteInput`. */
export function quoteJson(value: string, limit = QUOTE_LIMIT): string {
  const s = String(value);
  if (s.length <= limit) return escapeForMessage(s);
  let head = s.slice(0, limit);
  if (/[\ud800-\udbff]$/.test(head)) head = head.slice(0, -1); // do not split a surrogate pair
  return `${escapeForMessage(head).slice(0, -1)}…" (${s.length} characters, the first ${head.length} shown)`;
}

/** A file path for a message: as is when it prints on one line, else quoted and escaped (capped at 1000 characters). */
export function displayPath(path: string): string {
  return UNPRINTABLE.test(path) || path.length > 1000 ? quoteJson(path, 1000) : path;
}

function escapeForMessage(s: string): string {
  return JSON.stringify(s).replace(
    /[\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
