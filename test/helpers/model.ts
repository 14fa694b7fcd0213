/**
 * Settings shared by the model-based tests (long random sequences of operations checked against a
 * reference model): sized for CI by default; `MODEL_RUNS=500 MODEL_SEED=42 bun test test/*-model-based*`
 * runs longer or replays one seed locally (fast-check prints the seed and path of a failure).
 */
import type { Parameters } from 'fast-check';

export const MODEL_RUNS = Number(process.env.MODEL_RUNS ?? 0);

/** fast-check options: `runs` for CI unless MODEL_RUNS is set, MODEL_SEED when given. */
export function modelParams<T>(runs: number): Parameters<T> {
  const seed = process.env.MODEL_SEED;
  return { numRuns: MODEL_RUNS || runs, ...(seed ? { seed: Number(seed) } : {}) };
}

/** The test's time limit grows with MODEL_RUNS so longer local runs are not cut at the default limit. */
export const modelTimeout = (ciMs: number, ciRuns: number) => Math.max(ciMs, (ciMs * (MODEL_RUNS || ciRuns)) / ciRuns);

/** Every order of `items` (for a few concurrent commands: the outcomes must be those of one of them). */
export function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((x, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [x, ...rest]));
}
