import { defineConfig } from 'tsup';
import { vlferAppTsupConfig } from '../../tooling/build/src/tsup.js';

export default defineConfig(vlferAppTsupConfig());
