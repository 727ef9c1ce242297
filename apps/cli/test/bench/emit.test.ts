/**
 * `bench:ablations --emit slurm|k8s` from the command line: the job files it writes, hostile paths and values in
 * them, and the values it refuses. The batch scripts run here with a stub `pnpm` on PATH that prints its working
 * directory and argv; the manifests are parsed back with `yaml`. The real SLURM submission is in slurm.test.ts.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot, runCli, sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { ablationArgs, ENTRY as entry, ONLY } from './ablation-cli.js';

/** What the repository's `pnpm bench:ablations` passes: each cluster task runs the repository's script. */
const JOB = ['--job-command', 'pnpm bench:ablations'];
/** A `pnpm` that prints its working directory and its arguments, NUL-separated, and nothing else. */
const stubPath = () => {
  const bin = mkdtempSync(join(tmpdir(), 'vlfer-stub-'));
  writeFileSync(join(bin, 'pnpm'), `#!/bin/bash\nprintf '%s\\0' "$PWD" "$@"\n`);
  chmodSync(join(bin, 'pnpm'), 0o755);
  return `${bin}:${process.env.PATH}`;
};
const yamlOf = (file: string) => {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  expect(docs).toHaveLength(1);
  expect((docs[0] as { errors: unknown[] }).errors).toEqual([]);
  return docs[0]!.toJS();
};

describe('bench:ablations --emit', () => {
  it('writes a SLURM array job with the merge as a dependent job, and a Kubernetes Indexed Job', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-emit-'));
    const r = runCli(entry, [
      ...ablationArgs(join(dir, 'results')),
      ...JOB,
      '--emit',
      'slurm',
      '--shards',
      '3',
      '--cpus',
      '2',
      '--mem',
      '4G',
      '--time',
      '01:00:00',
      '--partition',
      'debug',
      '--emit-dir',
      join(dir, 'slurm'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    const array = readFileSync(join(dir, 'slurm', 'array.sbatch'), 'utf8');
    expect(array).toMatch(/#SBATCH --array=0-2\n/);
    expect(array).toMatch(/#SBATCH --partition=debug\n/);
    expect(array).toMatch(/#SBATCH --mem=4G\n#SBATCH --time=01:00:00\n/);
    expect(array).toMatch(/pnpm bench:ablations --only exp-clip-zero-shot\/prompt-x-preprocess .*--limit 24\n/);
    expect(readFileSync(join(dir, 'slurm', 'merge.sbatch'), 'utf8')).toMatch(/pnpm bench:ablations .* --merge 3\n/);
    expect(readFileSync(join(dir, 'slurm', 'submit.sh'), 'utf8')).toMatch(
      /sbatch --parsable --dependency=afterok:.* --kill-on-invalid-dep=yes /,
    );
    // the pods mount one volume: every path the job names lies under one folder (the shared assets by a link here)
    mkdirSync(join(dir, 'shared')); // emitting reads nothing there
    // a link to the shared assets elsewhere would lead out of the volume in the pods: refused, naming where it leads
    symlinkSync(sharedPath(), join(dir, 'shared-link'));
    const linked = runCli(
      entry,
      [
        ...ablationArgs(join(dir, 'results'), { shared: join(dir, 'shared-link') }),
        ...JOB,
        '--emit',
        'k8s',
        '--emit-dir',
        join(dir, 'k8s-link'),
      ],
      { cwd: dir },
    );
    expect([linked.code, linked.stderr]).toEqual([
      1,
      expect.stringContaining(`${realpathSync(sharedPath())}, which share no folder but /`),
    ]);
    const k8sArgs = [
      ...ablationArgs(join(dir, 'results'), { shared: join(dir, 'shared') }),
      ...JOB,
      '--emit',
      'k8s',
      '--shards',
      '3',
      '--emit-dir',
      join(dir, 'k8s'),
    ];
    const k = runCli(entry, k8sArgs, { cwd: dir });
    expect(k.code, k.stderr).toBe(0);
    const job = yamlOf(join(dir, 'k8s', 'indexed-job.yaml'));
    expect(job.spec.template.spec.containers[0].volumeMounts).toEqual([{ name: 'work', mountPath: dir }]);
    // from the repository, the results in another folder than the shared assets: refused, not mounted half
    const apart = runCli(entry, [...k8sArgs.slice(0, -1), join(dir, 'k8s-apart')]);
    expect([apart.code, apart.stderr]).toEqual([
      1,
      expect.stringMatching(/^vlfer: --emit k8s: the job names .* which share no folder but \//),
    ]);
    expect(existsSync(join(dir, 'k8s-apart'))).toBe(false);
    expect(job.spec).toMatchObject({ completionMode: 'Indexed', completions: 3, parallelism: 3 });
    expect(job.spec.template.spec.containers[0].env).toContainEqual({ name: 'VLFER_SHARD_COUNT', value: '3' });
    expect(job.spec.template.spec.containers[0].resources.limits).toEqual({ memory: '16Gi' });
  }, 120_000);

  it('hostile --results and --cache-dir reach the command as exactly one argument each (SLURM script and k8s)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-emit-hostile-'));
    const results = join(dir, 'r $(touch PWNED) `touch PWNED` \'q\' "d"\n#x: y');
    const cache = join(dir, 'c $(id) ;touch PWNED; %j');
    const want = [
      'bench:ablations',
      '--only',
      ONLY,
      '--shared',
      sharedPath(),
      '--results',
      results,
      '--cache-dir',
      cache,
      '--limit',
      '24',
    ];
    const emitDir = join(dir, 'emit dir \'q\' "d" #x %j');
    const r = runCli(entry, [
      ...ablationArgs(results, { cacheDir: cache }),
      ...JOB,
      '--emit',
      'slurm',
      '--shards',
      '2',
      '--emit-dir',
      emitDir,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const env = { ...process.env, PATH: stubPath() };
    for (const [file, argv] of [
      ['array.sbatch', want],
      ['merge.sbatch', [...want, '--merge', '2']],
    ] as const) {
      const run = spawnSync('bash', [join(emitDir, file)], { encoding: 'utf8', env, cwd: dir });
      expect(run.status, run.stderr).toBe(0);
      expect(run.stdout.split('\0').slice(0, -1)).toEqual([repoRoot, ...argv]);
    }
    expect(existsSync(join(repoRoot, 'PWNED'))).toBe(false);
    expect(readdirSync(dir)).toEqual(['emit dir \'q\' "d" #x %j']);
    // the k8s job starts in the directory the command ran in: a hostile one
    const workdir = join(dir, 'w #x: y\n  securityContext: { privileged: true } $(id)');
    mkdirSync(workdir);
    mkdirSync(join(dir, 'shared')); // under the one folder the pods mount (emitting reads nothing there)
    const wantK8s = want.map((a) => (a === sharedPath() ? join(dir, 'shared') : a));
    const k = runCli(
      entry,
      [
        ...ablationArgs(results, { cacheDir: cache, shared: join(dir, 'shared') }),
        ...JOB,
        '--emit',
        'k8s',
        '--shards',
        '2',
        '--mem',
        '3G',
        '--image',
        'registry.example/vlfer:1',
        '--emit-dir',
        join(dir, 'k8s'),
      ],
      { cwd: workdir },
    );
    expect(k.code, k.stderr).toBe(0);
    const [shard, merge] = ['indexed-job.yaml', 'merge-job.yaml'].map((f) => yamlOf(join(dir, 'k8s', f)));
    const container = shard.spec.template.spec.containers[0];
    expect(container).toEqual({
      name: 'shard',
      image: 'registry.example/vlfer:1',
      workingDir: workdir,
      command: ['pnpm', ...wantK8s],
      env: [
        { name: 'VLFER_SHARD_COUNT', value: '2' },
        { name: 'VLFER_THREADS', value: '4' },
      ],
      resources: { requests: { cpu: '4', memory: '3Gi' }, limits: { memory: '3Gi' } },
      volumeMounts: [{ name: 'work', mountPath: dir }],
    });
    expect(merge.spec.template.spec.containers[0].command).toEqual(['pnpm', ...wantK8s, '--merge', '2']);
  }, 120_000);

  it('refuses a hostile --mem, --image or --emit-dir naming the flag, writing nothing (other flags: src/cluster.test.ts)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-emit-refuse-'));
    const cases: [string[], RegExp][] = [
      [['--emit', 'slurm', '--mem', '1G\ntouch PWNED'], /--mem: "1G\\ntouch PWNED" is not a memory size like 16G/],
      [
        ['--emit', 'k8s', '--image', 'node:20\n  securityContext: { privileged: true }'],
        /--image: .* is not a container image/,
      ],
    ];
    for (const [i, [args, message]] of cases.entries()) {
      const out = join(dir, `out-${i}`);
      const r = runCli(entry, [...ablationArgs(join(dir, 'results')), ...args, '--emit-dir', out]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
    const out = join(dir, 'out\n#SBATCH --x');
    const r = runCli(entry, [...ablationArgs(join(dir, 'results')), '--emit', 'slurm', '--emit-dir', out]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/--emit-dir: .* is not usable in an #SBATCH line/);
    expect(readdirSync(dir)).toEqual([]);
  }, 120_000);
});
