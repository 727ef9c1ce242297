import { copyFileSync, createReadStream, existsSync, mkdirSync, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { defineConfig, defaultClientConditions, type Plugin } from 'vite';

const require = createRequire(import.meta.url);
/** onnxruntime-web's WASM runtime: the package transformers.js's web build imports (the same version). */
const ORT_DIST = dirname(require.resolve('onnxruntime-web')); // …/onnxruntime-web/dist/ort.node.min.js
/** What onnxruntime-web's WebGPU/WASM build loads at run time. */
export const ORT_FILES = ['ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm'];

const TYPES: Record<string, string> = {
  '.json': 'application/json',
  '.onnx': 'application/octet-stream',
  '.txt': 'text/plain',
  '.wasm': 'application/wasm',
  '.mjs': 'text/javascript',
  '.safetensors': 'application/octet-stream',
};

/**
 * The files the page fetches besides its bundle, served by `vite` (dev) and `vite preview`:
 * - `/ort/…`: onnxruntime-web's WASM runtime, from the installed package (`vite build` copies it into `dist/ort/`);
 * - `/models/<name>/…`: model directories (transformers.js layout) under `$VLFER_WEB_MODELS`;
 * - `/faces/…`: face detector files under `$VLFER_FACE_MODELS`.
 */
function vlferAssets(): Plugin {
  // relative paths are read from where the command was typed (pnpm sets INIT_CWD; `pnpm --filter` runs Vite in apps/web)
  const dir = (v: string | undefined) => (v ? resolve(process.env.INIT_CWD ?? process.cwd(), v) : undefined);
  const roots = (): Record<string, string | undefined> => ({
    '/ort/': ORT_DIST,
    '/models/': dir(process.env.VLFER_WEB_MODELS),
    '/faces/': dir(process.env.VLFER_FACE_MODELS),
  });
  const middleware = (req: { url?: string }, res: ServerResponse, next: () => void) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    for (const [prefix, root] of Object.entries(roots())) {
      if (!path.startsWith(prefix)) continue;
      if (!root) {
        res.statusCode = 404;
        res.end(
          `${prefix} is not served: set ${prefix === '/models/' ? 'VLFER_WEB_MODELS' : 'VLFER_FACE_MODELS'} to the directory that holds it`,
        );
        return;
      }
      const file = normalize(join(root, path.slice(prefix.length)));
      if (!file.startsWith(resolve(root) + sep) || !existsSync(file) || !statSync(file).isFile()) {
        res.statusCode = 404;
        res.end();
        return;
      }
      res.setHeader('content-type', TYPES[extname(file)] ?? 'application/octet-stream');
      res.setHeader('content-length', statSync(file).size);
      createReadStream(file).pipe(res);
      return;
    }
    next();
  };
  return {
    name: 'vlfer-assets',
    configureServer(server) {
      server.middlewares.use(middleware);
    },
    configurePreviewServer(server) {
      server.middlewares.use(middleware);
    },
    writeBundle(options) {
      const dir = join(options.dir!, 'ort');
      mkdirSync(dir, { recursive: true });
      for (const f of ORT_FILES) copyFileSync(join(ORT_DIST, f), join(dir, f));
    },
  };
}

export default defineConfig({
  // workspace packages resolve to their TypeScript sources, like everywhere else in the repository;
  // onnxruntime-web's build without an embedded WASM reference (the page serves /ort/ and sets wasmPaths)
  resolve: { conditions: ['@vlfer/source', 'onnxruntime-web-use-extern-wasm', ...defaultClientConditions] },
  plugins: [vlferAssets()],
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 2048,
    rollupOptions: {
      // zod 4 places /* @__PURE__ */ where Rollup cannot use it; harmless, and not ours to fix
      onwarn(warning, warn) {
        if (warning.code === 'INVALID_ANNOTATION' && warning.id?.includes('/zod/')) return;
        warn(warning);
      },
    },
  },
});
