/** @file `vlfer data export-fer2013`: dataset files into the layouts the loaders read. The work is @vlfer/datasets. */
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { commandHooks, refuseEmptyPaths } from '@vlfer/cli-kit';
import { shellJoin } from '@vlfer/bench';
import { exportFer2013Csv } from '@vlfer/datasets/node';
import { NAME } from '../name.js';

/** Flags spelled otherwise than the library option they set (for error messages). */
export const FLAG_NAMES = { ferPlusCsv: '--ferplus' };

/** `data` with its subcommand `export-fer2013`. */
export function dataCommand(): Command {
  const program = new Command('data').description('dataset files into the layouts the loaders read');
  program.addCommand(
    new Command('export-fer2013')
      .description(
        "the original fer2013.csv as 48x48 grey PNG files: class folders per Usage (--dataset fer2013 --root <out>/PrivateTest), or with --ferplus FERPlus's layout (--dataset ferplus --annotations fer2013new.csv --root <out>)",
      )
      .requiredOption('--csv <file>', 'fer2013.csv (emotion, pixels, Usage)')
      .requiredOption('--out <dir>', 'a new directory, written whole or not at all')
      .option('--ferplus <file>', "fer2013new.csv, row-aligned with --csv: FERPlus's layout and image names")
      .option('--no-progress', 'no progress bar')
      .action(async (o: { csv: string; out: string; ferplus?: string; progress?: boolean }) => {
        refuseEmptyPaths(o, { csv: '--csv', out: '--out', ferplus: '--ferplus' });
        const hooks = commandHooks(NAME, o, undefined, 'stopping; the partial export is removed');
        const r = await exportFer2013Csv({
          csv: o.csv,
          out: o.out,
          ...(o.ferplus !== undefined ? { ferPlusCsv: o.ferplus } : {}),
          signal: hooks.signal,
          onProgress: hooks.onProgress,
          log: hooks.log,
        }).finally(hooks.stop);
        const counts = Object.entries(r.written)
          .map(([usage, n]) => `${n} ${usage}`)
          .join(', ');
        const skipped = r.skipped
          ? `; ${r.skipped} row${r.skipped === 1 ? '' : 's'} without a FERPlus image name left out`
          : '';
        const names = new Set(r.replaced.map((x) => x.path)).size;
        const replaced = r.replaced.length
          ? `; ${names} image name${names === 1 ? '' : 's'} given again by later rows (${r.replaced.length} earlier row${r.replaced.length === 1 ? '' : 's'} replaced): each file holds its last row's face, as with FERPlus's generator (export.json lists them)`
          : '';
        // the test split where there is one (FERPlus: eval's default split reads FER2013Test)
        const usage = (['PrivateTest', 'PublicTest', 'Training'] as const).find((u) => r.written[u] > 0);
        const data =
          r.layout === 'ferplus'
            ? ['--dataset', 'ferplus', '--annotations', resolve(o.ferplus!), '--root', r.out]
            : ['--dataset', 'fer2013', '--root', join(r.out, usage ?? 'PrivateTest')];
        const next = `${shellJoin([NAME, 'exp-clip', 'eval', ...data])} --model path/to/clip`;
        process.stdout.write(
          `${counts} faces written to ${r.out} (${r.layout})${skipped}${replaced}\nevaluate with: ${next}\n`,
        );
      }),
  );
  return program;
}
