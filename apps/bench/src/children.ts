/**
 * @file The processes a bench starts and waits on — the PyTorch peers of `--vs torch` (`torch.ts`), the timing
 * children of bench:preprocess, the fresh-process variants of bench:load — and how a bench that runs them stops
 * (`installBenchStop`). Each child runs asynchronously, so that the bench keeps noticing signals and a killed parent
 * (pnpm) while it waits, and leads a process group of its own, so that a Ctrl-C at the terminal reaches the bench
 * only and `stopChildren` ends the child together with what it started (PyTorch's DataLoader workers). A child is
 * also told the bench's pid (the torch scripts' `--parent`) and exits once the bench is gone: that covers a bench
 * that was SIGKILLed, where no handler of the bench runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { exitWithParent } from '@vlfer/cli-kit';

/** The children now running (each the leader of its own process group), with the name messages give each. */
const running = new Map<ChildProcess, string>();

/**
 * SIGKILL every child still running, with its process group. Synchronous, for a bench that is exiting (a
 * `process.on('exit')` handler). @returns `name (process group pid)` of each child it killed
 */
export function stopChildren(): string[] {
  const killed: string[] = [];
  for (const [p, name] of running) {
    if (p.pid === undefined) continue; // never started (its 'error' event rejects the run)
    try {
      process.kill(-p.pid, 'SIGKILL');
      killed.push(`${name} (process group ${p.pid})`);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error; // ESRCH: it had ended already
    }
  }
  running.clear();
  return killed;
}

/** A child that prints its result as one JSON object on its last stdout line. */
export interface JsonChild {
  /** how messages name it: `vjp.py`, `preprocess-child.ts`, `bench:load --child inputs` */
  name: string;
  /** the command and its arguments */
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  /** the option of the bench that runs it, put before its name in errors: `--vs torch` */
  option?: string;
}

/**
 * Run `child` asynchronously, in a process group of its own (see the file's note), until it ends.
 * @returns the JSON object on its last stdout line
 * @throws naming the child (after `option`) and why: it could not start; it exited with a non-zero status or a
 *   signal (with the last lines of its stderr, else of its stdout); its last line is not JSON
 */
export function runJsonChild(child: JsonChild): Promise<Record<string, any>> {
  const what = child.option ? `${child.option}: ${child.name}` : child.name;
  const [command, ...args] = child.argv;
  if (command === undefined) throw new Error(`${what}: no command to run (argv is empty)`);
  const p = spawn(command, args, { env: child.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  running.set(p, child.name);
  let stdout = '';
  let stderr = '';
  p.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  p.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  return new Promise((resolve, reject) => {
    p.on('error', (error) => {
      running.delete(p);
      reject(new Error(`${what}: could not start ${command} (${error.message})`));
    });
    p.on('close', (code, signal) => {
      running.delete(p);
      if (code !== 0)
        return reject(
          new Error(
            `${what} exited with ${code ?? signal}: ${(stderr || stdout).trim().split('\n').slice(-6).join('\n')}`,
          ),
        );
      const line = stdout.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(line) as Record<string, any>);
      } catch {
        reject(new Error(`${what} printed no JSON result (last line: ${line.slice(0, 200)})`));
      }
    });
  });
}

/**
 * How a bench that runs children stops; call it once, before any work. However the bench ends, no child outlives it:
 * - Ctrl-C (SIGINT) or SIGTERM: the running children are killed (`stopChildren`), one line on stderr says so and
 *   that `results` is as it was, and the bench exits with 130 (SIGTERM: 143) at once;
 * - a killed parent (pnpm): the bench exits with 130 within a second (`exitWithParent`);
 * - any exit (done, an uncaught error, the two above): the children still running are killed, then `cleanup` runs
 *   (it must be synchronous, as every 'exit' handler).
 * The line is true only of a bench that writes its results whole (`writeJsonAtomic`) and at the end.
 * @param name the bench, as messages start: `bench:vjp`
 * @param results the results file a stop leaves as it was, or a function that names it at the time of the stop
 */
export function installBenchStop(name: string, results: string | (() => string), cleanup?: () => void): void {
  exitWithParent(name);
  process.on('exit', () => {
    stopChildren();
    cleanup?.();
  });
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)
    process.on(signal, () => {
      const killed = stopChildren();
      const file = typeof results === 'string' ? results : results();
      process.stderr.write(
        `\n${name}: ${signal}: stopped${killed.length ? ` and killed ${killed.join(', ')}` : ''}; no results written (${file} is as it was)\n`,
      );
      process.exit(code);
    });
}
