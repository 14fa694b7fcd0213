/** Preloaded by `bun test` (bunfig.toml): runs once around the whole run, all files included. */
import { afterAll } from 'bun:test';
import { removeTempDirs } from './helpers/temp';

afterAll(removeTempDirs);
