/**
 * A short description of a parsed value for error messages: at most about 120 characters, never recursive (a
 * value nested 200,000 levels deep is described in constant stack, where `JSON.stringify` overflows the stack).
 */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) {
    const shown = v
      .slice(0, 8)
      .map((x) => (x === null || typeof x !== 'object' ? describeValue(x) : Array.isArray(x) ? '[…]' : '{…}'));
    return `[${shown.join(', ')}${v.length > 8 ? `, … (${v.length} items)` : ''}]`;
  }
  if (v instanceof Map) return `a dict of ${v.size} items`;
  if (typeof v === 'object') {
    const kind = (v as { kind?: unknown }).kind;
    if (typeof kind === 'string') return `a ${kind}`;
    const keys = Object.keys(v);
    return `{${keys
      .slice(0, 4)
      .map((k) => JSON.stringify(k.length > 30 ? `${k.slice(0, 30)}…` : k))
      .join(', ')}${keys.length > 4 ? ', …' : ''}}`;
  }
  return typeof v;
}
