/**
 * Quoting and validation of the cluster job files, without a cluster: the batch scripts are run by bash itself (their
 * `#SBATCH` lines are comments there) with a command that prints its argv, and the manifests are parsed back with
 * `yaml`. The real SLURM submission of hostile paths is in apps/cli/test/bench/slurm.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  ClusterOptionError,
  kubernetesManifests,
  kubernetesMountPath,
  kubernetesMemory,
  sbatchQuote,
  shellJoin,
  shellQuote,
  validateClusterJob,
  writeKubernetesJob,
  writeSlurmJob,
  type ClusterJob,
} from './cluster.js';

/** Values seen to inject commands, split arguments or cut lines in the job files of the old string templates. */
const HOSTILE = [
  'r$(touch PWNED)x',
  'r`touch PWNED`x',
  'a b',
  "it's",
  'say "hi"',
  'line\ntouch PWNED',
  'cr\rx',
  '#x: y',
  '  securityContext: { privileged: true }',
  '$HOME ${PATH} $((1+1)) !! ~ * ? [a] {a,b}',
  'back\\slash\\',
  "'",
  '"',
  '',
  '-n',
  '%A %j %%',
  'x=y',
  ';rm -rf /;',
  '|&<>()',
  'ünïcødé 表情',
];

/** The argv a shell command line gives a program, read back NUL-separated from `printf '%s\0'`. */
const argvOf = (script: string, cwd?: string, shell = 'bash') => {
  const r = spawnSync(shell, ['-c', script], { encoding: 'utf8', ...(cwd ? { cwd } : {}) });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\0').slice(0, -1);
};

const job = (over: Partial<ClusterJob> = {}): ClusterJob => ({
  shards: 3,
  argv: ['pnpm', 'bench:ablations', '--results', '/r'],
  mergeArgv: ['pnpm', 'bench:ablations', '--results', '/r', '--merge', '3'],
  workdir: '/work',
  name: 'vlfer-ablations',
  cpus: 2,
  memory: '16G',
  time: '24:00:00',
  ...over,
});

describe('shellQuote / shellJoin', () => {
  it('a shell reads every hostile argument back exactly (bash and sh)', () => {
    for (const shell of ['bash', 'sh']) {
      const dir = mkdtempSync(join(tmpdir(), 'vlfer-quote-'));
      expect(argvOf(`printf '%s\\0' ${HOSTILE.map(shellQuote).join(' ')}`, dir, shell)).toEqual(HOSTILE);
      expect(argvOf(shellJoin(['printf', '%s\\0', ...HOSTILE]), dir, shell)).toEqual(HOSTILE);
      expect(readdirSync(dir)).toEqual([]); // nothing ran: no PWNED
    }
  });
  it('leaves plain words bare and single-quotes the rest', () => {
    expect(shellQuote('/shared/results-1')).toBe('/shared/results-1');
    expect(shellQuote('exp-clip-zero-shot/prompt-x-preprocess,face-api')).toBe(
      'exp-clip-zero-shot/prompt-x-preprocess,face-api',
    );
    expect(shellQuote('a b')).toBe("'a b'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote('')).toBe("''");
    expect(shellQuote('x=y')).toBe("'x=y'"); // a bare first word x=y would be an assignment
    expect(shellQuote('~')).toBe("'~'");
  });
  it('refuses NUL and an empty command', () => {
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
    expect(() => shellJoin([])).toThrow(/empty command/);
  });
});

describe('SLURM job files', () => {
  it('array.sbatch and merge.sbatch, run by bash, cd into the workdir and give the command exactly its argv', () => {
    const root = mkdtempSync(join(tmpdir(), 'vlfer-sbatch-'));
    const workdir = join(root, 'work $(touch PWNED) `touch PWNED` \'"\n#x: y');
    mkdirSync(workdir);
    const dir = join(root, 'emit dir \'q\' "d" #h %j');
    // prints its working directory, then its arguments, NUL-separated
    const argv = ['bash', '-c', `printf '%s\\0' "$PWD" "$@"`, 'bash', ...HOSTILE];
    writeSlurmJob(dir, job({ argv, mergeArgv: [...argv, '--merge', '3'], workdir }));
    for (const [file, want] of [
      ['array.sbatch', [workdir, ...HOSTILE]],
      ['merge.sbatch', [workdir, ...HOSTILE, '--merge', '3']],
    ] as const) {
      const r = spawnSync('bash', [join(dir, file)], { encoding: 'utf8', cwd: root });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.split('\0').slice(0, -1)).toEqual(want);
    }
    expect(readdirSync(root).sort()).toEqual([dir.slice(root.length + 1), workdir.slice(root.length + 1)].sort());
    expect(readdirSync(workdir)).toEqual([]); // nothing ran: no PWNED
  });
  it('writes the directives one per line, the log path in sbatch quoting, and submit.sh kills a merge whose array failed', () => {
    const root = mkdtempSync(join(tmpdir(), 'vlfer-sbatch-'));
    const dir = join(root, 'a b"c#d\'e%f');
    writeSlurmJob(dir, job({ partition: 'gpu,debug' }));
    const array = readFileSync(join(dir, 'array.sbatch'), 'utf8');
    const directives = array.split('\n').filter((l) => l.startsWith('#SBATCH'));
    expect(directives).toEqual([
      '#SBATCH --job-name=vlfer-ablations',
      '#SBATCH --cpus-per-task=2',
      '#SBATCH --mem=16G',
      '#SBATCH --time=24:00:00',
      '#SBATCH --partition=gpu,debug',
      '#SBATCH --array=0-2',
      `#SBATCH --output="${root}/a b\\"c\\#d'e%%f/logs/vlfer-ablations-%A_%a.out"`,
    ]);
    // sbatch stops reading directives at the first line that is not one: all of them come first
    expect(array.split('\n').slice(1, 1 + directives.length)).toEqual(directives);
    const submit = readFileSync(join(dir, 'submit.sh'), 'utf8');
    expect(submit).toMatch(/sbatch --parsable --dependency=afterok:"\$\{array%%;\*\}" --kill-on-invalid-dep=yes /);
  });
  it('sbatchQuote escapes backslash, double quote and # and refuses line breaks, naming the flag', () => {
    expect(sbatchQuote('/a b/"x"#y\\z', '--emit-dir')).toBe('"/a b/\\"x\\"\\#y\\\\z"');
    expect(() => sbatchQuote('/a\nb', '--emit-dir')).toThrow(/^--emit-dir: "\/a\\nb" is not usable in an #SBATCH line/);
    expect(() => sbatchQuote('/a\rb', '--emit-dir')).toThrow(ClusterOptionError);
  });
  it('refuses hostile directive values naming the flag, before writing anything', () => {
    const cases: [Partial<ClusterJob>, RegExp][] = [
      [{ memory: '1G\ntouch PWNED' }, /^--mem: "1G\\ntouch PWNED" is not a memory size like 16G/],
      [{ memory: '1G"' }, /^--mem: /],
      [{ memory: '16GB' }, /^--mem: /],
      [{ memory: '0' }, /^--mem: /],
      [{ memory: '' }, /^--mem: /],
      [{ time: '1:00:00\n#SBATCH --array=0' }, /^--time: .* is not a SLURM time limit/],
      [{ time: 'tomorrow' }, /^--time: /],
      [{ time: '24:00:00 ' }, /^--time: /],
      // fields out of range: SLURM would not read these as written
      [{ time: '99:99:99' }, /^--time: /],
      [{ time: '00:61:00' }, /^--time: /],
      [{ time: '10:70' }, /^--time: /],
      [{ time: '1-25' }, /^--time: /],
      [{ partition: 'debug\ntouch PWNED' }, /^--partition: .* is not a partition name/],
      [{ partition: 'a b' }, /^--partition: /],
      [{ partition: '' }, /^--partition: /],
      [{ image: 'node:20\n        securityContext: { privileged: true }' }, /^--image: .* is not a container image/],
      [{ image: 'node "20"' }, /^--image: /],
      [{ cpus: 0 }, /^--cpus: /],
      [{ shards: 1.5 }, /^--shards: /],
    ];
    for (const [over, message] of cases) {
      const dir = join(mkdtempSync(join(tmpdir(), 'vlfer-refuse-')), 'out');
      expect(() => writeSlurmJob(dir, job(over)), JSON.stringify(over)).toThrow(message);
      expect(() => writeKubernetesJob(dir, job(over)), JSON.stringify(over)).toThrow(message);
      expect(existsSync(dir)).toBe(false);
    }
    const dir = join(mkdtempSync(join(tmpdir(), 'vlfer-refuse-')), 'out\n#SBATCH --x');
    expect(() => writeSlurmJob(dir, job())).toThrow(/^--emit-dir: .* is not usable in an #SBATCH line/);
    expect(existsSync(dir)).toBe(false);
    const slash = join(mkdtempSync(join(tmpdir(), 'vlfer-refuse-')), 'out\\x');
    expect(() => writeSlurmJob(slash, job())).toThrow(/^--emit-dir: .* is not usable for SLURM log files/);
    expect(existsSync(slash)).toBe(false);
  });
  it('accepts every SLURM time form and memory unit', () => {
    for (const time of ['30', '30:00', '4:00:00', '24:00:00', '1-0', '1-12', '1-12:30', '7-00:00:00'])
      expect(() => validateClusterJob(job({ time }))).not.toThrow();
    for (const memory of ['512', '512K', '4096M', '16G', '1T'])
      expect(() => validateClusterJob(job({ memory }))).not.toThrow();
  });
});

describe('Kubernetes manifests', () => {
  it('tabs, NEL, LINE/PARAGRAPH SEPARATOR, DEL and C1 controls are escaped, not written raw (other readers fold them)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-k8s-escape-'));
    const odd = ['node\tx', 'a\u2028b\u0085c\u2029d', 'x\u007fy\u0080z\u009f', 'é 漢', 'n\ufffeo\uffff'];
    const files = writeKubernetesJob(dir, job({ argv: ['pnpm', ...odd], mergeArgv: ['pnpm', ...odd, '--merge', '3'] }));
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      expect(text).not.toMatch(/[\t\u007f-\u009f\u2028\u2029\ufffe\uffff]/);
      expect(text).toContain('"n\\uFFFEo\\uFFFF"');
      expect(text).toContain('"a\\Lb\\Nc\\Pd"');
      expect(text).toContain('"node\\tx"');
      const [doc] = parseAllDocuments(text) as [ReturnType<typeof parseAllDocuments>[number] & { errors: unknown[] }];
      expect(doc.errors).toEqual([]);
      const command = (doc.toJS() as { spec: { template: { spec: { containers: { command: string[] }[] } } } }).spec
        .template.spec.containers[0]!.command;
      expect(command.slice(1, 1 + odd.length)).toEqual(odd);
    }
  });
  it('parse back with yaml to exactly the intended values, hostile argv, workdir and all', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-k8s-'));
    const workdir = '/w/#x: y\n  securityContext: { privileged: true }\n"\'$(id)';
    const argv = ['pnpm', 'bench:ablations', '--results', ...HOSTILE, '--cache-dir', '$(id)'];
    const mergeArgv = [...argv, '--merge', '3'];
    const spec = job({
      argv,
      mergeArgv,
      workdir,
      memory: '3G',
      image: 'registry.example:5000/vlfer/app:1.2@sha256:abc',
    });
    const files = writeKubernetesJob(dir, spec);
    const container = (name: string, command: string[], env: { name: string; value: string }[]) => ({
      name,
      image: 'registry.example:5000/vlfer/app:1.2@sha256:abc',
      workingDir: workdir,
      command,
      env: [...env, { name: 'VLFER_THREADS', value: '2' }],
      resources: { requests: { cpu: '2', memory: '3Gi' }, limits: { memory: '3Gi' } },
      volumeMounts: [{ name: 'work', mountPath: workdir }],
    });
    const volumes = [{ name: 'work', persistentVolumeClaim: { claimName: 'vlfer-work' } }];
    const parsed = files.map((f) => {
      const docs = parseAllDocuments(readFileSync(f, 'utf8'));
      expect(docs).toHaveLength(1);
      const [doc] = docs as [ReturnType<typeof parseAllDocuments>[number] & { errors: unknown[] }];
      expect(doc.errors).toEqual([]);
      return doc.toJS();
    });
    expect(parsed[0]).toEqual({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'vlfer-ablations' },
      spec: {
        completionMode: 'Indexed',
        completions: 3,
        parallelism: 3,
        backoffLimitPerIndex: 1,
        template: {
          spec: {
            restartPolicy: 'Never',
            containers: [container('shard', argv, [{ name: 'VLFER_SHARD_COUNT', value: '3' }])],
            volumes,
          },
        },
      },
    });
    expect(parsed[1]).toEqual({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'vlfer-ablations-merge' },
      spec: {
        template: {
          spec: {
            restartPolicy: 'Never',
            containers: [container('merge', mergeArgv, [{ name: 'VLFER_MERGE', value: '1' }])],
            volumes,
          },
        },
      },
    });
    const { indexed, merge } = kubernetesManifests(spec);
    expect(parsed).toEqual([indexed, merge]);
  });
  it('accepts each SLURM time form in range; Kubernetes mounts the volume at the folder holding every path', () => {
    for (const time of ['90', '90:30', '48:00:00', '1-12', '1-23:59', '2-00:00:59'])
      expect(() => validateClusterJob(job({ time })), time).not.toThrow();
    // the repository's default `--shared ../shared` is beside the checkout, not under it: mounted at their parent
    expect(kubernetesMountPath({ workdir: '/work/main', paths: ['/work/shared', '/work/main/results'] })).toBe('/work');
    expect(kubernetesMountPath({ workdir: '/work/main' })).toBe('/work/main');
    const { indexed } = kubernetesManifests(job({ workdir: '/work/main', paths: ['/work/shared'] }));
    const container = (indexed as any).spec.template.spec.containers[0];
    expect([container.workingDir, container.volumeMounts]).toEqual([
      '/work/main',
      [{ name: 'work', mountPath: '/work' }],
    ]);
    expect(() => kubernetesMountPath({ workdir: '/work/main', paths: ['/data/fer'] })).toThrow(
      /^--emit k8s: the job names \/work\/main, \/data\/fer, which share no folder but \//,
    );
  });
  it('writes SLURM memory units as Kubernetes binary quantities', () => {
    expect(['512', '512K', '4096M', '16G', '1T'].map(kubernetesMemory)).toEqual([
      '512Mi',
      '512Ki',
      '4096Mi',
      '16Gi',
      '1Ti',
    ]);
    expect(() => kubernetesMemory('16Gi')).toThrow(/^--mem: /);
  });
});
