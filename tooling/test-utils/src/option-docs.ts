import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';

/** A zod object schema as far as the check needs it: its fields, each able to parse `undefined` (→ its default). */
export interface ObjectSchemaLike {
  shape: Record<string, { safeParse(input: unknown): { success: boolean; data?: unknown } }>;
}

/** One documented field of an options interface. */
export interface DocumentedField {
  name: string;
  /** The JSDoc text (empty when the field has none). */
  doc: string;
  /** The `@default` tag's text, if any. */
  defaultTag?: string;
}

/**
 * The fields of `export interface <name>` in a Prettier-formatted TypeScript file, with their JSDoc and `@default`
 * tags: members are the lines indented by two spaces, each after its own `/** … *\/` comment.
 */
export function interfaceFields(file: string, name: string): DocumentedField[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const start = lines.findIndex((l) => new RegExp(`^export interface ${name}\\b.*\\{$`).test(l));
  if (start < 0) throw new Error(`${file}: no exported interface ${name}`);
  const fields: DocumentedField[] = [];
  let doc: string[] | undefined;
  let comment: string[] | undefined;
  for (let i = start + 1; i < lines.length && lines[i] !== '}'; i++) {
    const line = lines[i]!;
    if (comment) {
      comment.push(
        line
          .trim()
          .replace(/^\*\/?/, '')
          .replace(/\*\/$/, ''),
      );
      if (line.trim().endsWith('*/')) [doc, comment] = [comment, undefined];
      continue;
    }
    if (line.startsWith('  /**')) {
      const first = line.trim().slice(3);
      if (first.endsWith('*/')) doc = [first.slice(0, -2)];
      else comment = [first];
      continue;
    }
    const member = /^ {2}(\w+)\??:/.exec(line);
    if (!member) continue;
    const text = (doc ?? []).join('\n');
    const tag = /@default\s+([\s\S]*?)\s*(?=@\w|$)/.exec(text);
    const prose = text.replace(/@default[\s\S]*$/, '').trim();
    fields.push({ name: member[1]!, doc: prose, ...(tag ? { defaultTag: tag[1]!.trim() } : {}) });
    doc = undefined;
  }
  return fields;
}

/** A `@default` tag's value when it is a literal (`'pil'`, `32`, `[30, 60]`, `{}`), else `undefined` (prose). */
function literalOf(tag: string): { value: unknown } | undefined {
  const text = /^'[^']*'$/.test(tag) ? JSON.stringify(tag.slice(1, -1)) : tag;
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return undefined;
  }
}

/**
 * Every disagreement between an options interface and the zod schema that validates it: a field on one side only,
 * a field without JSDoc, a schema default with no literal `@default` tag or a different one, a literal `@default`
 * the schema does not apply. Prose tags (`@default the dataset's`) are allowed only where the schema has no default.
 */
export function optionDocProblems(file: string, interfaceName: string, schema: ObjectSchemaLike): string[] {
  const problems: string[] = [];
  const fields = interfaceFields(file, interfaceName);
  const documented = new Set(fields.map((f) => f.name));
  for (const key of Object.keys(schema.shape))
    if (!documented.has(key)) problems.push(`${key}: in the schema, not in ${interfaceName}`);
  for (const f of fields) {
    const field = schema.shape[f.name];
    if (!field) {
      problems.push(`${f.name}: in ${interfaceName}, not in the schema`);
      continue;
    }
    if (!f.doc.trim()) problems.push(`${f.name}: no JSDoc`);
    const parsed = field.safeParse(undefined);
    const schemaDefault = parsed.success ? parsed.data : undefined;
    const literal = f.defaultTag !== undefined ? literalOf(f.defaultTag) : undefined;
    if (schemaDefault !== undefined) {
      if (!literal) problems.push(`${f.name}: schema default ${JSON.stringify(schemaDefault)}, no literal @default`);
      else if (!isDeepStrictEqual(literal.value, schemaDefault))
        problems.push(`${f.name}: @default ${f.defaultTag} but the schema's is ${JSON.stringify(schemaDefault)}`);
    } else if (literal) problems.push(`${f.name}: @default ${f.defaultTag} but the schema has no default`);
  }
  return problems;
}
