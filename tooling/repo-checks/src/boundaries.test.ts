import { join, relative } from 'node:path';
import { repoRoot } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { APP_BUNDLED } from '@vlfer/build/tsup';
import { externalClosure, importsOf, packageOf, reach, sourceFiles, workspacePackages } from './workspace.js';

const all = workspacePackages();
const byName = new Map(all.map((p) => [p.name, p]));
const isApp = (name: string) => byName.get(name)?.group === 'apps';
/** Model runtimes: what `metrics`, `datasets`, `image` and every runtime-neutral entry must never reach. */
const MODEL_RUNTIMES = [
  'onnxruntime-node',
  'onnxruntime-web',
  'onnxruntime-common',
  '@huggingface/transformers',
  '@tensorflow/tfjs',
  '@tensorflow/tfjs-node',
  '@tensorflow/tfjs-backend-wasm',
];
/** What a runtime-neutral entry may not import: Node built-ins, native addons, model runtimes, `/node` subpaths. */
const NODE_ONLY =
  /^(node:|fs$|path$|os$|crypto$|child_process$|worker_threads$|sharp$|@ffmpeg-installer\/|onnxruntime-node$|@huggingface\/transformers$|@vlfer\/[^/]+\/node$)/;

describe('package boundaries', () => {
  it('no app imports an app; packages never import apps (manifests and source)', () => {
    const problems: string[] = [];
    for (const p of all) {
      for (const d of [...p.deps, ...p.devDeps]) if (isApp(d)) problems.push(`${p.name} depends on the app ${d}`);
      for (const f of sourceFiles(join(p.dir, p.group === 'apps' ? '.' : 'src'))) {
        for (const spec of importsOf(f)) {
          const target = packageOf(spec);
          if (target && isApp(target)) problems.push(`${relative(repoRoot, f)} imports the app ${target}`);
          if (spec.startsWith('.') && spec.includes('apps/'))
            problems.push(`${relative(repoRoot, f)} reaches into apps/ by path (${spec})`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('workspace dependencies point downward: no cycles, and apps/bench uses packages only', () => {
    const ws = (n: string) => byName.get(n);
    const order: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (n: string, path: string[]) => {
      if (state.get(n) === 'done') return;
      if (state.get(n) === 'visiting') throw new Error(`dependency cycle: ${[...path, n].join(' → ')}`);
      state.set(n, 'visiting');
      for (const d of ws(n)!.deps) if (ws(d)) visit(d, [...path, n]);
      state.set(n, 'done');
      order.push(n);
    };
    for (const p of all) visit(p.name, []);
    expect(order.length).toBe(all.length);
    const bench = ws('@vlfer/app-bench')!;
    expect(bench.deps.filter((d) => ws(d) && ws(d)!.group !== 'packages' && d !== '@vlfer/cli-kit')).toEqual([]);
  });

  it('metrics, datasets, image and probes never reach a model runtime (transitive npm dependencies and source imports)', () => {
    for (const name of ['@vlfer/metrics', '@vlfer/datasets', '@vlfer/image', '@vlfer/probes']) {
      const p = byName.get(name)!;
      const closure = externalClosure(p.dir, p.deps);
      expect(
        [...closure].filter((d) => MODEL_RUNTIMES.includes(d)),
        `${name} dependency closure`,
      ).toEqual([]);
      for (const entry of Object.values(p.manifest.exports as Record<string, Record<string, string>>)
        .map((e) => e['@vlfer/source'])
        .filter(Boolean)) {
        const { bare } = reach(join(p.dir, entry!), byName);
        expect(
          bare.filter((b) => MODEL_RUNTIMES.includes(packageOf(b.spec)!)),
          `${name} ${entry}`,
        ).toEqual([]);
      }
    }
  });

  it('image decoding and resizing stand alone: @vlfer/image needs only @vlfer/core, and faces reaches images through it, not through encoders', () => {
    const vlfer = (name: string) => byName.get(name)!.deps.filter((d) => d.startsWith('@vlfer/'));
    expect(vlfer('@vlfer/image')).toEqual(['@vlfer/core']);
    expect(vlfer('@vlfer/faces').sort()).toEqual(['@vlfer/core', '@vlfer/image']);
    expect(vlfer('@vlfer/encoders')).toContain('@vlfer/image');
  });

  it('every main entry of a package with a ./node subpath is runtime-neutral (no Node built-ins, native addons or model runtimes, transitively)', () => {
    const split = all.filter((p) => p.group === 'packages' && p.manifest.exports?.['./node']);
    expect(split.map((p) => p.name).sort()).toEqual([
      '@vlfer/core',
      '@vlfer/datasets',
      '@vlfer/encoders',
      '@vlfer/faces',
      '@vlfer/image',
      '@vlfer/llm-knowledge',
      '@vlfer/losses',
      '@vlfer/open-set',
    ]);
    // the detector finds what it looks for: the ./node entries do import Node built-ins
    expect(
      reach(join(byName.get('@vlfer/core')!.dir, 'src/node/index.ts'), byName).bare.some((b) => NODE_ONLY.test(b.spec)),
    ).toBe(true);
    const neutral = [...split, byName.get('@vlfer/metrics')!];
    for (const p of neutral) {
      const { bare } = reach(join(p.dir, p.manifest.exports['.']['@vlfer/source']), byName);
      expect(
        bare.filter((b) => NODE_ONLY.test(b.spec)).map((b) => `${b.from} imports ${b.spec}`),
        `${p.name} main entry`,
      ).toEqual([]);
    }
  });

  it('the browser entries (encoders/web, projection-head/format) import no Node built-ins or native addons; format no model runtime', () => {
    const browserOnly =
      /^(node:|fs$|path$|os$|crypto$|child_process$|worker_threads$|sharp$|onnxruntime-node$|@vlfer\/[^/]+\/node$)/;
    const web = reach(join(byName.get('@vlfer/encoders')!.dir, 'src/web/index.ts'), byName).bare;
    expect(
      web.some((b) => b.spec === '@huggingface/transformers'),
      'encoders/web runs on transformers.js',
    ).toBe(true);
    expect(web.filter((b) => browserOnly.test(b.spec)).map((b) => `${b.from} imports ${b.spec}`)).toEqual([]);
    const format = reach(join(byName.get('@vlfer/projection-head')!.dir, 'src/format.ts'), byName).bare;
    expect(
      format
        .filter((b) => NODE_ONLY.test(b.spec) || MODEL_RUNTIMES.includes(packageOf(b.spec)!))
        .map((b) => `${b.from} imports ${b.spec}`),
    ).toEqual([]);
  });

  it('every imported package is declared in the importing package.json', () => {
    const problems: string[] = [];
    for (const p of all) {
      const declared = new Set([...p.deps, ...p.devDeps, p.name]);
      for (const f of sourceFiles(join(p.dir, p.group === 'apps' ? '.' : 'src'))) {
        // what a published package ships: its src/ without the test-only files its tsconfig.build.json leaves out
        // (*.test.ts, *.reference.ts oracles, *.fuzz.ts); an app's examples, tests and build config are not
        const isTest = /\.(test|reference|fuzz)\.ts$|\/test\//.test(f) || !relative(p.dir, f).startsWith('src/');
        for (const spec of importsOf(f)) {
          const target = packageOf(spec);
          if (!target || target === 'vitest') continue;
          // published packages must declare what their shipped code imports as a runtime dependency, unless their
          // build bundles it in (a command-line app's private helpers: APP_BUNDLED), then as a dev dependency
          const bundled = p.group === 'apps' && APP_BUNDLED.includes(target) && declared.has(target);
          const ok =
            isTest || p.private ? declared.has(target) : p.deps.includes(target) || target === p.name || bundled;
          if (!ok)
            problems.push(
              `${relative(repoRoot, f)} imports ${target}, not in ${p.name}'s ${isTest || p.private ? '' : 'runtime '}dependencies`,
            );
        }
      }
    }
    expect(problems).toEqual([]);
  });
});
