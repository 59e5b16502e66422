/** A benchmark's positive-integer flag (`--name N`), or `fallback`; a bad value ends the run with exit 2. */
export function flag(bench: string, name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value <= 0) {
    console.error(`${bench}: --${name} needs a positive integer`);
    process.exit(2);
  }
  return value;
}
