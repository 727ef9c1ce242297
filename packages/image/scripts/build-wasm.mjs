// Compiles src/pil-resample.wat (Pillow's resampling with WebAssembly SIMD) into src/pil-resample-wasm.ts, the
// bytes as base64, so that the runtime needs neither a compiler nor a file next to the bundle.
//   pnpm --filter @vlfer/image build:wasm        (write)
//   node scripts/build-wasm.mjs --check             (exit 1 when the committed file differs from the .wat)
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

export async function compileResampleWat() {
  const wat = fileURLToPath(new URL('../src/pil-resample.wat', import.meta.url));
  const wabt = await wabtInit();
  const module = wabt.parseWat('pil-resample.wat', readFileSync(wat, 'utf8'), { simd: true });
  try {
    module.validate();
    const { buffer } = module.toBinary({ log: false, write_debug_names: false });
    return Buffer.from(buffer).toString('base64');
  } finally {
    module.destroy();
  }
}

export function resampleModuleSource(base64) {
  // laid out as Prettier (print width 120) formats it, so that formatting the repository leaves the file as written
  return `// Generated from pil-resample.wat by scripts/build-wasm.mjs; do not edit.\n/** The WebAssembly module of pil-resample.wat, base64. */\nexport const PIL_RESAMPLE_WASM =\n  '${base64}';\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = fileURLToPath(new URL('../src/pil-resample-wasm.ts', import.meta.url));
  const source = resampleModuleSource(await compileResampleWat());
  if (process.argv.includes('--check')) {
    if (readFileSync(out, 'utf8') !== source) {
      process.stderr.write(
        `${out} is not the compiled src/pil-resample.wat: run pnpm --filter @vlfer/image build:wasm\n`,
      );
      process.exit(1);
    }
  } else {
    writeFileSync(out, source);
    process.stderr.write(`wrote ${out}\n`);
  }
}
