import { defineConfig } from 'tsup';

/**
 * The command line as built JavaScript (`dist/main.js`, the package's bin): starts without a TypeScript loader.
 * Published @vlfer packages stay external (their own `dist/` builds); the private `@vlfer/cli-kit` (source only)
 * is bundled in.
 */
export default defineConfig({
  entry: ['src/main.ts'],
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  outDir: 'dist',
  clean: true,
  noExternal: ['@vlfer/cli-kit'],
  external: ['cli-progress'],
});
