import type { Random } from '../kit/random.ts';
import type { SymbolConfig } from './config.ts';

/**
 * A seeded price walk per symbol, one step per virtual second. The price at a time depends only on the
 * seed and the time, never on how often it was asked: the walk advances lazily and time never goes back.
 * Prices are integers in points (1 point = 10^-digits) so profit arithmetic stays exact.
 */
export class PriceFeed {
  readonly #walks = new Map<string, Walk>();

  constructor(symbols: readonly SymbolConfig[], random: Random, startMs: number) {
    for (const s of symbols) this.#walks.set(s.name, new Walk(s, random.fork('prices').fork(s.name), startMs));
  }

  symbol(name: string): SymbolConfig | undefined {
    return this.#walks.get(name)?.symbol;
  }

  symbols(): string[] {
    return [...this.#walks.keys()];
  }

  /** Bid and ask in points at `atMs`. */
  quote(name: string, atMs: number): { bid: number; ask: number } {
    const walk = this.#walks.get(name);
    if (walk === undefined) throw new Error(`prices: unknown symbol ${name}`);
    const mid = walk.at(atMs);
    const half = Math.floor(walk.symbol.spreadPoints / 2);
    return { bid: mid - half, ask: mid - half + walk.symbol.spreadPoints };
  }
}

class Walk {
  readonly symbol: SymbolConfig;
  readonly #random: Random;
  #second: number;
  #mid: number;
  readonly #floor: number;

  constructor(symbol: SymbolConfig, random: Random, startMs: number) {
    this.symbol = symbol;
    this.#random = random;
    this.#second = Math.floor(startMs / 1000);
    this.#mid = Math.round(symbol.price * 10 ** symbol.digits);
    // A price never walks below a tenth of its start: a simulated market, not a crash test.
    this.#floor = Math.max(1, Math.round(this.#mid / 10));
  }

  at(atMs: number): number {
    const second = Math.floor(atMs / 1000);
    const sigma = this.symbol.volatilityPoints;
    while (this.#second < second) {
      // Sum of three uniforms: a cheap bell-shaped step with standard deviation `sigma`.
      const r = this.#random;
      const step = (r.float() + r.float() + r.float() - 1.5) * 2 * sigma;
      this.#mid = Math.max(this.#floor, this.#mid + Math.round(step));
      this.#second++;
    }
    return this.#mid;
  }
}
