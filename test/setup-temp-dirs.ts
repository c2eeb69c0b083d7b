// Runs before every test file (vitest.config.ts setupFiles): the temp dirs a file made are removed when it ends.

import { afterAll } from 'vitest';
import { removeTempDirs } from './helpers/temp-dir.js';

afterAll(removeTempDirs);
