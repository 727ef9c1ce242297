/**
 * A real SLURM run of an emitted array job (Debian slurm-wlm + munge, a private single-node cluster started by
 * tooling/slurm/start-cluster.sh as root). Runs when the SLURM daemons are installed and the tests run as root;
 * otherwise the test is reported as skipped with that reason in its name.
 *
 * The cluster lives in this run's own temporary directory (state, spool, logs, munge socket) on two ports the OS
 * reports free, so two copies of this test (two clones) run side by side. The job paths are hostile on purpose:
 * results, cache and job directories with spaces, both quotes, `$(…)`, backticks, a newline, `#` and `%`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, runCli } from '@vlfer/test-utils';
import { afterAll, describe, expect, it } from 'vitest';
import { ablationArgs, ENTRY as entry, rowsWithoutTiming } from './ablation-cli.js';

const have = (b: string) => spawnSync('sh', ['-c', `command -v ${b}`]).status === 0;
const missing = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scontrol'].filter((b) => !have(b));
const reason = missing.length
  ? `not installed: ${missing.join(', ')} (apt-get install slurm-wlm munge)`
  : process.getuid?.() !== 0
    ? 'not root (slurmd runs jobs as root here)'
    : '';
const work = mkdtempSync(join(tmpdir(), 'vlfer-slurm-test-'));
const cluster = join(work, 'cluster');
const busy = join(work, 'cluster-on-a-busy-port');
/** A directory name that ran commands, split arguments or cut lines in the job files of the old string templates. */
const hostile = (tag: string) => `${tag} $(touch ${work}/PWNED) \`touch ${work}/PWNED\` 'q' "d"\n#x: y %j`;
/** Two TCP ports the OS reports free (held together so they differ), for slurmctld and slurmd. */
const freePorts = async (): Promise<[number, number]> => {
  const listen = () =>
    new Promise<ReturnType<typeof createServer>>((resolve) => {
      const s = createServer();
      s.listen(0, '0.0.0.0', () => resolve(s));
    });
  const [a, b] = [await listen(), await listen()];
  const ports: [number, number] = [(a.address() as AddressInfo).port, (b.address() as AddressInfo).port];
  await Promise.all([a, b].map((s) => new Promise((r) => s.close(r))));
  return ports;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const emitArgs = (shards: number, emitDir: string) => [
  '--job-command',
  'pnpm bench:ablations',
  '--emit',
  'slurm',
  '--shards',
  String(shards),
  '--cpus',
  String(2 / shards),
  '--mem',
  '3G',
  '--time',
  '00:30:00',
  '--emit-dir',
  emitDir,
];

afterAll(() => {
  if (reason) return;
  for (const dir of [cluster, busy]) spawnSync(join(repoRoot, 'tooling/slurm/stop-cluster.sh'), [dir]);
});

describe.skipIf(Boolean(reason))(`a real SLURM array job${reason ? ` (skipped: ${reason})` : ''}`, () => {
  it('start-cluster.sh on a port in use fails with the log line that says so, leaving nothing running', async () => {
    const [ctld, slurmd] = await freePorts();
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(slurmd, '0.0.0.0', r));
    try {
      const r = spawnSync(join(repoRoot, 'tooling/slurm/start-cluster.sh'), [busy, String(ctld), String(slurmd)], {
        encoding: 'utf8',
      });
      expect(r.status, r.stderr).toBe(4);
      expect(r.stderr).toMatch(
        new RegExp(`slurmd exited while the node came up \\(SlurmctldPort=${ctld} SlurmdPort=${slurmd}\\)`),
      );
      expect(r.stderr).toMatch(new RegExp(`Unable to bind listen port \\(${slurmd}\\): Address already in use`));
    } finally {
      await new Promise((r) => holder.close(r));
    }
    // stop-cluster.sh ran: no process started with this cluster's files is left
    const ours = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(busy);
        } catch {
          return false;
        }
      });
    expect(ours).toEqual([]);
  }, 120_000);

  it('the emitted sbatch array (1 and 2 tasks, hostile paths) and its dependent merge give the single-process results; a failed array cancels its merge', async () => {
    const ports = await freePorts();
    const started = spawnSync(join(repoRoot, 'tooling/slurm/start-cluster.sh'), [cluster, ...ports.map(String)], {
      encoding: 'utf8',
    });
    // on failure, start-cluster.sh prints what the daemons' logs said (e.g. "Unable to bind listen port")
    expect(started.status, `start-cluster.sh failed:\n${started.stderr}`).toBe(0);
    const env = { ...process.env, SLURM_CONF: started.stdout.trim() };
    const squeue = (jobs: string) => execFileSync('squeue', ['-h', '-j', jobs], { encoding: 'utf8', env }).trim();
    const show = (job: string) => execFileSync('scontrol', ['show', 'job', job], { encoding: 'utf8', env });
    const submit = (jobDir: string) => {
      const out = execFileSync('bash', [join(jobDir, 'submit.sh')], { encoding: 'utf8', env, cwd: repoRoot });
      const [, array, merge] = /array job (\d+), merge job (\d+)/.exec(out)!;
      return { array: array!, merge: merge! };
    };
    const waitGone = async (jobs: string) => {
      while (squeue(jobs) !== '') await sleep(500);
    };

    // a failing array (its --results lies under a regular file): the merge must be cancelled, not left PENDING
    writeFileSync(join(work, 'a-file'), '');
    const failingDir = join(work, 'job-failing');
    const failing = runCli(entry, [...ablationArgs(join(work, 'a-file', 'results')), ...emitArgs(1, failingDir)]);
    expect(failing.code, failing.stderr).toBe(0);
    const doomed = submit(failingDir);

    const t0 = Date.now();
    const single = runCli(entry, ablationArgs(join(work, 'single')), { timeoutMs: 300_000 });
    expect(single.code, single.stderr).toBe(0);
    const times: Record<string, number> = { 'one process': (Date.now() - t0) / 1000 };

    await waitGone(doomed.array);
    expect(show(doomed.array)).toMatch(/JobState=FAILED/);
    // slurmctld cancels a job whose dependency can no longer be met (--kill-on-invalid-dep=yes) on its next pass;
    // without it the merge stays PENDING (DependencyNeverSatisfied) for ever, so the wait is bounded to say so
    let merge = show(doomed.merge);
    for (let i = 0; i < 120 && /JobState=PENDING/.test(merge); i++) {
      await sleep(500);
      merge = show(doomed.merge);
    }
    expect(merge, 'the merge of a failed array must be cancelled, not left pending').toMatch(/JobState=CANCELLED/);

    for (const shards of [1, 2]) {
      const results = join(work, hostile(`array-${shards}`));
      const jobDir = join(work, `job ${shards} 'q' "d" #x %j`);
      const emit = runCli(entry, [...ablationArgs(results), ...emitArgs(shards, jobDir)]);
      expect(emit.code, emit.stderr).toBe(0);
      const t1 = Date.now();
      const { array, merge } = submit(jobDir);
      await waitGone(`${array},${merge}`);
      times[`${shards}-task array + merge`] = (Date.now() - t1) / 1000;
      const logs = join(jobDir, 'logs');
      const log = (f: string) => (existsSync(join(logs, f)) ? readFileSync(join(logs, f), 'utf8') : `(no ${f})`);
      // every directive was read: the time limit, the array size and the log files in the hostile job directory
      const arrayState = show(array);
      expect(arrayState, log(`vlfer-ablations-${array}_0.out`)).toMatch(/JobState=COMPLETED/);
      expect(arrayState).toMatch(/TimeLimit=00:30:00/);
      expect(readdirSync(logs).sort()).toEqual(
        [
          ...Array.from({ length: shards }, (_, i) => `vlfer-ablations-${array}_${i}.out`),
          `vlfer-ablations-merge-${merge}.out`,
        ].sort(),
      );
      expect(show(merge), log(`vlfer-ablations-merge-${merge}.out`)).toMatch(/JobState=COMPLETED/);
      // the hostile path itself was used, and nothing in it ran
      expect(rowsWithoutTiming(results)).toEqual(rowsWithoutTiming(join(work, 'single')));
      expect(readFileSync(join(results, 'summary.csv'), 'utf8')).toBe(
        readFileSync(join(work, 'single', 'summary.csv'), 'utf8'),
      );
      expect(existsSync(join(work, 'PWNED'))).toBe(false);
    }
    console.log(
      `wall time (s): ${Object.entries(times)
        .map(([k, v]) => `${k} ${v.toFixed(1)}`)
        .join(', ')}`,
    );
  }, 900_000);
});
