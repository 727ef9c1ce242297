/**
 * A short description of a parsed value for error messages: at most about 120 characters, never recursive (a
 * value nested 200,000 levels deep is described in constant stack, where `JSON.stringify` overflows the stack).
 */
export function describeValue(v: unknown): string {
  if (isSmallPlainValue(v)) {
    const json = JSON.stringify(v);
    return json.length > 120 ? `${json.slice(0, 119)}…` : json;
  }
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

/** Whether `v` is plain JSON data (arrays, plain objects, primitives) of at most 4 levels and 64 values. */
function isSmallPlainValue(v: unknown): boolean {
  const work: Array<[unknown, number]> = [[v, 0]];
  let count = 0;
  while (work.length > 0) {
    const [x, depth] = work.pop()!;
    if (++count > 64 || depth > 4) return false;
    if (x === null || typeof x === 'boolean' || typeof x === 'string') continue;
    if (typeof x === 'number') {
      if (!Number.isFinite(x)) return false; // JSON.stringify would print null
      continue;
    }
    if (Array.isArray(x)) for (const y of x.slice(0, 65)) work.push([y, depth + 1]);
    else if (typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype)
      for (const y of Object.values(x as object).slice(0, 65)) work.push([y, depth + 1]);
    else return false;
  }
  return true;
}

/**
 * The fields whose values differ between what a file recorded and what a run has now, for an error message:
 * `lr (0.001 then, 0.01 now), milestones (nothing then, [2, 4] now)`; '' when none differs. Objects on both sides
 * are compared field by field (`referenceBehaviour.alphabeticalClassNames (false then, true now)`).
 */
export function describeChangedFields(recorded: Record<string, unknown>, now: Record<string, unknown>): string {
  const plain = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  const changes = (a: Record<string, unknown>, b: Record<string, unknown>, prefix: string): string[] =>
    [...new Set([...Object.keys(a), ...Object.keys(b)])]
      .sort()
      .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
      .flatMap((k) =>
        plain(a[k]) && plain(b[k])
          ? changes(a[k], b[k], `${prefix}${k}.`)
          : [`${prefix}${k} (${describeValue(a[k])} then, ${describeValue(b[k])} now)`],
      );
  return changes(recorded, now, '').join(', ');
}

/** How far a training checkpoint got, for messages: `12 epochs and 3 steps done` (`1 epoch and 1 step done`). */
export function checkpointProgress(done: { epoch: number; step: number }): string {
  const n = (k: number, word: string) => `${k} ${word}${k === 1 ? '' : 's'}`;
  return `${n(done.epoch, 'epoch')} and ${n(done.step, 'step')} done`;
}

/**
 * The fewest epochs to ask for to continue a checkpoint: its completed epochs, or one more when it stopped inside an
 * epoch (fewer were not kept).
 */
export function epochsToContinue(done: { epoch: number; step: number }): number {
  return done.step > 0 ? done.epoch + 1 : done.epoch;
}

/**
 * What an "already trained" notice adds when the run's checkpoint went on past the published epochs (a later call
 * asked for more and was stopped): `; a later call went on (checkpoint.safetensors: 12 epochs and 3 steps done): ask
 * for 13 or more epochs to continue it`, or '' when the checkpoint is the published run's own.
 * @param done epochs completed and steps into the next, as the checkpoint records them
 */
export function laterCheckpointNote(done: { epoch: number; step: number }, publishedEpochs: number): string {
  if (done.epoch <= publishedEpochs && done.step === 0) return '';
  return `; a later call went on (checkpoint.safetensors: ${checkpointProgress(done)}): ask for ${epochsToContinue(done)} or more epochs to continue it`;
}
