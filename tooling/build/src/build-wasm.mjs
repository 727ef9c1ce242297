// Compiles a package's WebAssembly text (src/<name>.wat) into src/<name>-wasm.ts: the bytes as base64 in one exported
// constant, so that the runtime needs neither a compiler nor a file next to the bundle. Run in the package:
//   pnpm build:wasm                                                   (its script: write the file)
//   node ../../tooling/build/src/build-wasm.mjs src/<name>.wat <CONSTANT> --check
//                                                                     (exit 1 when the committed file differs)
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

/** The module of the WebAssembly text at `watPath` (SIMD enabled, no debug names), base64. */
export async function compileWat(watPath) {
  const wabt = await wabtInit();
  const module = wabt.parseWat(basename(watPath), readFileSync(watPath, 'utf8'), { simd: true });
  try {
    module.validate();
    const { buffer } = module.toBinary({ log: false, write_debug_names: false });
    return Buffer.from(buffer).toString('base64');
  } finally {
    module.destroy();
  }
}

/** Where the compiled module of `watPath` is written: src/<name>.wat → src/<name>-wasm.ts. */
export function wasmModulePath(watPath) {
  return watPath.replace(/\.wat$/, '-wasm.ts');
}

/** The text of src/<name>-wasm.ts for the module `base64` of `watPath`, exported as `constant`. */
export function wasmModuleSource(watPath, constant, base64) {
  const wat = basename(watPath);
  // laid out as Prettier (print width 120) formats it, so that formatting the repository leaves the file as written
  return `// Generated from ${wat} by tooling/build/src/build-wasm.mjs (pnpm build:wasm); do not edit.\n/** The WebAssembly module of ${wat}, base64. */\nexport const ${constant} =\n  '${base64}';\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [wat, constant] = process.argv.slice(2).filter((a) => a !== '--check');
  if (!wat?.endsWith('.wat') || !/^[A-Z][A-Z0-9_]*$/.test(constant ?? '')) {
    process.stderr.write('usage: build-wasm.mjs src/<name>.wat <CONSTANT_NAME> [--check]\n');
    process.exit(2);
  }
  const out = resolve(wasmModulePath(wat));
  const source = wasmModuleSource(wat, constant, await compileWat(resolve(wat)));
  if (process.argv.includes('--check')) {
    if (readFileSync(out, 'utf8') !== source) {
      process.stderr.write(`${out} is not the compiled ${wat}: run pnpm build:wasm in its package\n`);
      process.exit(1);
    }
  } else {
    writeFileSync(out, source);
    process.stderr.write(`wrote ${out}\n`);
  }
}
