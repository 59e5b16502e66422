/**
 * A seeded random source (sfc32) with named sub-streams.
 *
 * `fork(name)` derives a child whose sequence depends only on (root seed, path of names), never on how
 * many numbers the parent has drawn: turning one fault kind on or off does not shift another's choices,
 * and a run can be replayed from its one printed seed.
 */
export class Random {
  readonly seed: string;
  readonly path: string;
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: string | number, path = '') {
    this.seed = String(seed);
    // `/` separates fork names: a seed containing it could replay another seed's fork.
    if (this.seed.includes('/')) throw new Error(`random: a seed may not contain "/": ${this.seed}`);
    this.path = path;
    const key = path === '' ? this.seed : `${this.seed}/${path}`;
    const h = hash128(key);
    this.#a = h[0];
    this.#b = h[1];
    this.#c = h[2];
    this.#d = h[3];
    // Warm up: sfc32's first outputs are weakly mixed.
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A child stream named `name`, independent of this stream's position. Names may not contain `/`. */
  fork(name: string): Random {
    if (name === '' || name.includes('/'))
      throw new Error(`random.fork: bad name "${name}" (nest forks instead of using /)`);
    return new Random(this.seed, this.path === '' ? name : `${this.path}/${name}`);
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  u32(): number {
    let a = this.#a;
    let b = this.#b;
    let c = this.#c;
    let d = this.#d;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    this.#a = a;
    this.#b = b;
    this.#c = c;
    this.#d = d;
    return t >>> 0;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** An integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    if (!Number.isInteger(min) || !Number.isInteger(max) || max < min) {
      throw new Error(`random.int: bad range [${min}, ${max}]`);
    }
    return min + Math.floor(this.float() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('random.pick: empty list');
    return items[Math.floor(this.float() * items.length)] as T;
  }

  /** Picks an item with probability proportional to its weight (weights >= 0, not all zero). */
  weighted<T>(items: readonly (readonly [T, number])[]): T {
    return new WeightedChoice(items).pick(this);
  }

  /** An exponentially distributed value with the given mean. */
  exponential(mean: number): number {
    return -Math.log(1 - this.float()) * mean;
  }

  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.float() * (i + 1));
      const tmp = out[i] as T;
      out[i] = out[j] as T;
      out[j] = tmp;
    }
    return out;
  }
}

/**
 * A weighted choice with its cumulative weights computed once, for a choice made on every step of a
 * hot loop: one draw per pick.
 */
export class WeightedChoice<T> {
  readonly #items: T[];
  readonly #cumulative: number[];
  readonly #total: number;

  constructor(entries: readonly (readonly [T, number])[]) {
    let total = 0;
    this.#items = [];
    this.#cumulative = [];
    for (const [item, weight] of entries) {
      if (!(weight >= 0)) throw new Error(`random.weighted: negative or NaN weight ${weight}`);
      total += weight;
      this.#items.push(item);
      this.#cumulative.push(total);
    }
    if (!(total > 0)) throw new Error('random.weighted: no positive weight');
    this.#total = total;
  }

  /** The sum of the weights, added up in the order given. */
  get total(): number {
    return this.#total;
  }

  pick(random: Random): T {
    return this.at(random.float() * this.#total);
  }

  /**
   * The item whose slice of [0, total) holds `x`: for a caller that draws `x` itself, e.g. to give a
   * share of the draws to no item at all.
   */
  at(x: number): T {
    const c = this.#cumulative;
    for (let i = 0; i < c.length; i++) if (x < (c[i] as number)) return this.#items[i] as T;
    return this.#items[this.#items.length - 1] as T;
  }
}

/** Four 32-bit words from a string (cyrb128), used only to seed sfc32. */
function hash128(text: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}
