/**
 * Seeds and run counts of the property tests: random unless `MTPROOF_PROPERTY_SEED` is set,
 * `defaultRuns` unless `MTPROOF_PROPERTY_RUNS` is set. Prints the seed so that a failing run can be replayed.
 */
export function propertyParams(name: string, defaultRuns: number): { seed: number; numRuns: number } {
  const seed = fromEnv('MTPROOF_PROPERTY_SEED') ?? Math.floor(Math.random() * 2 ** 31);
  const numRuns = fromEnv('MTPROOF_PROPERTY_RUNS') ?? defaultRuns;
  console.log(`${name} property: seed ${seed}, ${numRuns} runs (replay: MTPROOF_PROPERTY_SEED=${seed})`);
  return { seed, numRuns };
}

function fromEnv(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new Error(`${name} must be an integer, not "${text}"`);
  return value;
}
