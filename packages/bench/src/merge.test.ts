import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng, shardOfKey, type Shard } from '@vlfer/core';
import { provenance } from '@vlfer/core/node';
import { PROMPT_TYPES } from '@vlfer/llm-knowledge';
import { classificationReport } from '@vlfer/metrics';
import { describe, expect, it } from 'vitest';
import {
  ablationShardFields,
  expandAblation,
  mergeAblation,
  readRows,
  runAblation,
  shardRecordFile,
  shardRowsFile,
  writeAblationShard,
  writeSummary,
  type ResultRow,
} from './ablations.js';
import type { AblationSpec } from './registry.js';

// Fast, unit-level checks of the merge on crafted shard files (the end-to-end shard runs are in test/shard.test.ts).
const ID = 'test/merge-grid';
const SPEC: AblationSpec = {
  method: 'exp-clip-zero-shot',
  axes: { backbone: ['tiny-clip'], dataset: ['fer2013'], promptType: PROMPT_TYPES, preprocess: ['exp-clip', 'clip'] },
  seeds: [1, 2],
  description: 'merge test grid',
};
const registry = { [ID]: SPEC };
const COUNT = 2;
const prov = provenance();

/** A consistent row: numbers computed from random predictions by the same function the runs use. */
function row(run: ReturnType<typeof expandAblation>[number], k: number, data = 'd'.repeat(64)): ResultRow {
  const rng = createRng(k + 1);
  const names = ['anger', 'happy', 'neutral'];
  const yTrue = Array.from({ length: 30 }, (_, i) => i % 3);
  const yPred = yTrue.map((y) => (rng.int(3) === 0 ? rng.int(3) : y));
  const rep = classificationReport(yTrue, yPred, 3);
  return {
    id: run.id,
    ablation: ID,
    method: 'exp-clip-zero-shot',
    coords: run.coords,
    seed: run.seed,
    metrics: { uar: rep.uar, war: rep.war, n: rep.n },
    perClassRecall: Object.fromEntries(names.map((c, i) => [c, rep.perClassRecall[i] ?? null])),
    confusionMatrix: rep.confusionMatrix,
    labelNames: names,
    datasetFingerprint: data,
    modelFingerprint: 'm'.repeat(64),
    provenance: prov,
    seconds: 1,
    finishedAt: '2026-01-01T00:00:00.000Z',
  };
}

/** The shard files that `COUNT` finished shards leave; `data(i)` is the dataset fingerprint shard i read. */
function writeShards(data: (i: number) => string = () => 'd'.repeat(64)): string {
  const results = mkdtempSync(join(tmpdir(), 'vlfer-merge-'));
  const runs = expandAblation(ID, SPEC);
  for (let i = 0; i < COUNT; i++) {
    const shard = { index: i, count: COUNT };
    const rows = runs.flatMap((r, k) => (shardOfKey(r.id, COUNT) === i ? [row(r, k, data(i))] : []));
    writeAblationShard(results, ID, shard, rows, {
      fields: ablationShardFields(ID, SPEC, { code: prov }),
      units: runs.length,
    });
  }
  return results;
}
const merge = (results: string, limit?: number) =>
  mergeAblation(ID, { resultsDir: results, count: COUNT, registry, ...(limit ? { limit } : {}) });
const shard0: Shard = { index: 0, count: COUNT };
/** Rewrite line `line` (0-based) of shard 0's rows with `edit`. */
function editRow(results: string, edit: (r: Record<string, any>) => void, line = 0): void {
  const f = shardRowsFile(results, ID, shard0);
  const lines = readFileSync(f, 'utf8').trim().split('\n');
  const r = JSON.parse(lines[line]!);
  edit(r);
  lines[line] = JSON.stringify(r);
  writeFileSync(f, `${lines.join('\n')}\n`);
}
function editRecord(results: string, edit: (r: Record<string, any>) => unknown): void {
  const f = shardRecordFile(results, ID, shard0);
  writeFileSync(f, JSON.stringify(edit(JSON.parse(readFileSync(f, 'utf8')))));
}

describe('bench:ablations --merge refuses foreign, edited and inconsistent shards (crafted shard files)', () => {
  it('merges consistent shards: every run once, in the registry order', async () => {
    const results = writeShards();
    const r = await merge(results);
    expect(r.runs).toBe(20);
    expect(r.records.map((x) => x.unitsDone).reduce((a, b) => a + b)).toBe(20);
    expect(readRows(join(results, 'test__merge-grid.jsonl')).map((x) => x.id)).toEqual(
      expandAblation(ID, SPEC).map((x) => x.id),
    );
  });
  it("keeps the rows of other runs already in the ablation's file (another --limit), as an unsharded run does", async () => {
    const results = writeShards();
    const file = join(results, 'test__merge-grid.jsonl');
    const earlier = expandAblation(ID, SPEC, { limit: 28 }).map((r, k) => row(r, k));
    writeFileSync(file, earlier.map((r) => JSON.stringify(r)).join('\n') + '\n');
    await merge(results);
    expect(readRows(file).map((x) => x.id)).toEqual([...earlier, ...expandAblation(ID, SPEC)].map((x) => x.id));
    // a run once: a copied line, or a copy of the file beside it, would count twice in the summary and be compared
    // with itself
    const lines = readFileSync(file, 'utf8');
    // named by the file's own lines (blank lines are not rows): line 4 of the file is the repeat of line 1
    writeFileSync(file, lines.split('\n')[0] + '\n\n\n' + lines + lines.split('\n')[0] + '\n');
    expect(() => readRows(file)).toThrow(/:4: run .* has a row on line 1 already; a run has one row/);
    // rows kept from before that read another model than the merged shards: refused, as an unsharded run does
    const stale = earlier.map((r) => JSON.stringify({ ...r, modelFingerprint: 'n'.repeat(64) }));
    writeFileSync(file, stale.join('\n') + '\n');
    await expect(merge(results)).rejects.toThrow(/read another model for 'tiny-clip' .*the model changed between runs/);
    // a row of another ablation pasted in: refused before the file is rewritten, at its line there
    const pasted = JSON.stringify({ ...JSON.parse(lines.split('\n')[0]!), id: 'x', ablation: 'other/grid' });
    writeFileSync(file, `\n\n${pasted}\n${lines}`);
    await expect(merge(results)).rejects.toThrow(/test__merge-grid\.jsonl:3: a row of ablation 'other\/grid'/);
    expect(readFileSync(file, 'utf8')).toBe(`\n\n${pasted}\n${lines}`);
    writeFileSync(file, lines);
    writeFileSync(join(results, 'backup.jsonl'), lines);
    expect(() => writeSummary(results)).toThrow(
      /backup\.jsonl:1: a row of ablation 'test\/merge-grid', whose rows are in test__merge-grid\.jsonl/,
    );
  });
  it('a shard that read other data (another dataset fingerprint) is refused, naming the dataset and both shards', async () => {
    const results = writeShards((i) => (i === 1 ? 'e'.repeat(64) : 'd'.repeat(64)));
    await expect(merge(results)).rejects.toThrow(
      /the shards read different data for 'fer2013' \(shard 0\/2: dddddddddddd…, shard 1\/2: eeeeeeeeeeee…\)/,
    );
  });
  it('a shard run with other code or another --limit is refused, naming the field', async () => {
    const results = writeShards();
    const runs = expandAblation(ID, SPEC);
    const other = { ...prov, git: { sha: 'f'.repeat(40), dirty: prov.git?.dirty ?? false } };
    writeAblationShard(
      results,
      ID,
      { index: 1, count: COUNT },
      runs.flatMap((r, k) => (shardOfKey(r.id, COUNT) === 1 ? [row(r, k)] : [])),
      { fields: ablationShardFields(ID, SPEC, { code: other }), units: runs.length },
    );
    await expect(merge(results)).rejects.toThrow(
      /shard 1\/2 ran with other options: code \(git commit, uncommitted changes, package versions\) \(git\.sha\) is "f{40}" there, "[0-9a-f]{40}" in shard 0\/2/,
    );
    await expect(merge(writeShards(), 24)).rejects.toThrow(/limit \(--limit\) is null there, 24 here/);
  });
  it('rows edited to uar 0.99, uar -5, a count of 1000, or with a changed field are refused, naming the row', async () => {
    let results = writeShards();
    editRow(results, (r) => (r.metrics.uar = 0.99));
    await expect(merge(results)).rejects.toThrow(
      /:1: row .*: metrics\.uar is 0\.99, but the confusion matrix gives 0\.\d+/,
    );
    results = writeShards();
    editRow(results, (r) => (r.metrics.uar = -5));
    await expect(merge(results)).rejects.toThrow(/metrics\.uar is -5, but the confusion matrix gives/);
    results = writeShards();
    editRow(results, (r) => (r.confusionMatrix[0][1] = 1000));
    await expect(merge(results)).rejects.toThrow(/the confusion matrix counts \d+ items, metrics\.n says 30/);
    results = writeShards();
    editRow(results, (r) => (r.confusionMatrix[0][1] = -1));
    await expect(merge(results)).rejects.toThrow(/confusionMatrix\.0\.1|confusionMatrix\[0\]\[1\]/);
    // consistent numbers, but not what the shard wrote: the record's checksum tells
    results = writeShards();
    editRow(results, (r) => (r.seconds = 2));
    await expect(merge(results)).rejects.toThrow(/row .* was edited after the shard wrote it/);
  });
  it('a row without metrics and a stray notes.jsonl are named errors (file, line, field)', async () => {
    const results = writeShards();
    editRow(results, (r) => delete r.metrics);
    await expect(merge(results)).rejects.toThrow(/-of-2\.jsonl:1 \(field 'metrics'\): not an ablation result row/);
    const ok = writeShards();
    await merge(ok);
    writeFileSync(join(ok, 'notes.jsonl'), '{"note":"rerun seed 2 on the big node"}\n');
    expect(() => writeSummary(ok)).toThrow(/notes\.jsonl:1 \(field 'id'\): not an ablation result row/);
  });
  it('shard records: null, a string unit count, an edited count, a lost record are named', async () => {
    let results = writeShards();
    editRecord(results, () => null);
    await expect(merge(results)).rejects.toThrow(
      /shard 0\/2: .*0-of-2\.json: expected a shard record \(a JSON object\), got null/,
    );
    results = writeShards();
    editRecord(results, (r) => ({ ...r, units: String(r.units) }));
    await expect(merge(results)).rejects.toThrow(
      /0-of-2\.json \(field 'units'\): expected a non-negative integer, got "20" \(a string\)/,
    );
    results = writeShards();
    editRecord(results, (r) => ({ ...r, unitsDone: r.unitsDone + 1 }));
    await expect(merge(results)).rejects.toThrow(/0-of-2\.json \(field 'checksum'\): does not match the record/);
    results = writeShards();
    writeFileSync(shardRecordFile(results, ID, shard0), '');
    await expect(merge(results)).rejects.toThrow(/0-of-2\.json: not JSON/);
  });
});

describe('a resumed bench:ablations shard trusts only the rows its record lists', () => {
  const resume = (results: string, registry: Record<string, AblationSpec>) =>
    runAblation(ID, { shared: '/nonexistent', resultsDir: results, registry, shard: shard0, log: () => {} });
  it('skips recorded rows; refuses an edited row and a restart with another registry entry, naming them', async () => {
    const results = writeShards();
    const n = expandAblation(ID, SPEC).filter((r) => shardOfKey(r.id, COUNT) === 0).length;
    expect(await resume(results, registry)).toEqual({ ran: 0, skipped: n });
    await expect(resume(results, { [ID]: { ...SPEC, seeds: [1, 2, 3] } })).rejects.toThrow(
      /shard 0\/2 in .* was started with other settings \(the ablation's registry entry \(axes, seeds, options\)\)/,
    );
    editRow(results, (r) => (r.seconds = 2));
    await expect(resume(results, registry)).rejects.toThrow(
      /0-of-2\.jsonl: row .* differs from what shard 0\/2 wrote \(checksum in .*0-of-2\.json\); it was edited/,
    );
  });
});
