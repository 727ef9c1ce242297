import { defineConfig } from 'tsup';
import { vlferTsupConfig } from '../../tooling/build/src/tsup.js';

export default defineConfig(vlferTsupConfig());
