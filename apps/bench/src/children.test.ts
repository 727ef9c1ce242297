/**
 * `runJsonChild` and `stopChildren` on small shell children: the result line, the errors that name the child, the
 * child leading a process group of its own, and `stopChildren` killing that group (what the child started included).
 * The stop of a real bench (signals, exit codes, the PyTorch peer) is in apps/bench/test/bench-stop.test.ts.
 */
import { alive, commandLine, descendants, groupMembers, until } from '@vlfer/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { runJsonChild, stopChildren } from './children.js';

const sh = (name: string, script: string, option?: string) =>
  runJsonChild({ name, argv: ['sh', '-c', script], env: process.env, ...(option ? { option } : {}) });

afterEach(() => {
  stopChildren(); // a failed case leaves no sleeper behind
});

describe('runJsonChild', () => {
  it('resolves to the JSON object on the last stdout line', async () => {
    await expect(sh('ok.sh', 'echo progress; echo \'{"a": [1, 2]}\'')).resolves.toEqual({ a: [1, 2] });
  });
  it('names the child, the option that runs it, its exit status and the end of its stderr', async () => {
    await expect(sh('broken.py', 'echo no such model >&2; exit 3', '--vs torch')).rejects.toThrow(
      /^--vs torch: broken\.py exited with 3: no such model$/,
    );
    await expect(sh('quiet.sh', 'echo done')).rejects.toThrow(/^quiet\.sh printed no JSON result \(last line: done\)$/);
  });
  it('names a command that cannot start', async () => {
    const r = runJsonChild({ name: 'ghost', argv: ['/nonexistent/python3'], env: process.env });
    await expect(r).rejects.toThrow(/^ghost: could not start \/nonexistent\/python3 \(.*ENOENT/);
    expect(() => runJsonChild({ name: 'empty', argv: [], env: process.env })).toThrow(/^empty: no command to run/);
  });
});

describe('stopChildren', () => {
  it('kills each running child with its process group, and says which', async () => {
    const run = sh('sleeper.sh', 'sleep 1000 & sleep 1000 & wait');
    const failed = run.then(
      () => undefined,
      (e: Error) => e,
    );
    const mine = () => descendants(process.pid).filter((p) => commandLine(p).includes('sleep 1000'));
    await until(() => mine().length === 3, 'sh and its two sleeps to start', 30_000);
    const [leader] = mine().filter((p) => commandLine(p).startsWith('sh '));
    expect(leader).toBeDefined();
    // the child leads a group of its own, and what it started is in that group
    const pids = mine();
    expect(groupMembers(leader!).sort()).toEqual(pids.sort());
    expect(stopChildren()).toEqual([`sleeper.sh (process group ${leader})`]);
    expect((await failed)?.message).toMatch(/^sleeper\.sh exited with SIGKILL/);
    await until(() => groupMembers(leader!).length === 0, 'the child and the sleeps it started to end', 30_000);
    expect(pids.filter(alive)).toEqual([]);
    expect(stopChildren()).toEqual([]); // nothing left to kill
  });
});
