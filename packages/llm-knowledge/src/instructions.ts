/**
 * Instructions given to the LLM teacher with each unlabelled face image. `exp-clip` is the paper's, verbatim
 * (runner.sh and all released logs). Add variants with `registerInstruction`; ids are stable cache keys.
 */
const INSTRUCTIONS = new Map<string, string>([
  [
    'exp-clip',
    'Please play the role of a facial action describer. Objectively describe the detailed facial actions of the person in the image.',
  ],
  ['exp-clip-short', 'Describe the facial actions of the person in the image.'],
]);

export const EXP_CLIP_INSTRUCTION_ID = 'exp-clip';

/** The instruction text for an id. @throws RangeError for an unknown id, listing the known ones. */
export function getInstruction(id: string): string {
  const t = INSTRUCTIONS.get(id);
  if (t === undefined)
    throw new RangeError(`Unknown instruction id '${id}'; known: ${[...INSTRUCTIONS.keys()].join(', ')}`);
  return t;
}

/** Register an instruction variant. Re-registering an id with different text is an error (ids key caches). */
export function registerInstruction(id: string, text: string): void {
  const old = INSTRUCTIONS.get(id);
  if (old !== undefined && old !== text)
    throw new RangeError(`Instruction id '${id}' is already registered with different text`);
  INSTRUCTIONS.set(id, text);
}

export function listInstructions(): { id: string; text: string }[] {
  return [...INSTRUCTIONS].map(([id, text]) => ({ id, text }));
}
