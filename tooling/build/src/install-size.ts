/**
 * @file `pnpm install-size`: what a user's `node_modules` weighs when they install
 * one public package (or a set, e.g. metrics + datasets) from the tarballs of this checkout (`pnpm build` first). Each
 * install is a fresh pnpm project outside the workspace (the @vlfer packages from the tarballs, everything else from
 * the registry or pnpm's store; onnxruntime-node's CUDA download skipped, as `.ci/run` does). Prints a Markdown table:
 * disk use of `node_modules` (`du -sk`, each hard-linked file once) and the number of packages installed. Package
 * names as arguments measure only those.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packAll, publicApps, publicPackages } from './pack.js';

const all: string[][] = [
  ...[...publicPackages(), ...publicApps()].map((p) => [p.name]),
  ['@vlfer/metrics', '@vlfer/datasets'],
];
// `pnpm install-size @vlfer/bench @vlfer/cli`: only the rows of these packages (a row of a set when it holds one)
const only = process.argv.slice(2);
for (const name of only)
  if (!all.some((set) => set.includes(name)))
    throw new Error(`install-size: unknown package '${name}'; known: ${all.map((s) => s.join(' + ')).join(', ')}`);
const sets = only.length === 0 ? all : all.filter((set) => set.length === 1 && only.includes(set[0]!));
const work = mkdtempSync(join(tmpdir(), 'vlfer-install-size-'));
const { tarballs, failures } = packAll(join(work, 'tarballs'));
if (failures.length > 0) throw new Error(failures.join('\n'));
const overrides = Object.fromEntries(Object.entries(tarballs).map(([n, f]) => [n, `file:${f}`]));
const rows: string[] = ['| install | node_modules | packages |', '| --- | ---: | ---: |'];
for (const [i, set] of sets.entries()) {
  const dir = join(work, `p${i}`);
  mkdirSync(dir);
  const dependencies = Object.fromEntries(set.map((n) => [n, overrides[n]!]));
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'size', private: true, dependencies, pnpm: { overrides } }),
  );
  const r = spawnSync(
    'pnpm',
    ['install', '--prefer-offline', '--ignore-workspace', '--config.strict-peer-dependencies=false'],
    {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
    },
  );
  if (r.status !== 0) throw new Error(`pnpm install ${set.join(' ')} failed:\n${r.stdout}${r.stderr}`);
  const kb = Number(execFileSync('du', ['-sk', join(dir, 'node_modules')], { encoding: 'utf8' }).split('\t')[0]);
  const count = readdirSync(join(dir, 'node_modules', '.pnpm')).filter(
    (d) => d.includes('@') && d !== 'node_modules',
  ).length;
  rows.push(`| ${set.map((n) => `\`${n}\``).join(' + ')} | ${(kb / 1024).toFixed(1)} MB | ${count} |`);
  process.stdout.write(`${rows.at(-1)}\n`);
}
rmSync(work, { recursive: true, force: true });
process.stdout.write(`\n${rows.join('\n')}\n`);
