/** A small seeded PRNG (cyrb128 string hash feeding sfc32), so a clinic is reproducible from its seed. */

/** Hashes a string into four 32-bit words (bryc's cyrb128, public domain). */
export function hashSeed(seed: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < seed.length; i++) {
    const k = seed.charCodeAt(i);
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

export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, bound). */
  int(bound: number): number;
  pick<T>(items: readonly T[]): T;
  /** Picks a key of `weights` with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K;
  digits(length: number): string;
  /** Characters drawn from `alphabet`. */
  chars(alphabet: string, length: number): string;
}

export const UPPER = 'ABCDEFGHIJKLMNPQRSTUVWXYZ';
export const DIGITS = '0123456789';

/** A seeded generator; the same seed always yields the same sequence. */
export function createRandom(seed: number | string): Random {
  let [a, b, c, d] = hashSeed(String(seed));
  const next = (): number => {
    // sfc32: small, fast and statistically sound enough for test data.
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  // Let the state mix away from the hash before use.
  for (let i = 0; i < 15; i++) next();

  const int = (bound: number): number => {
    if (!Number.isInteger(bound) || bound <= 0)
      throw new RangeError(`bound must be a positive integer: ${bound}`);
    return Math.floor(next() * bound);
  };
  const pick = <T>(items: readonly T[]): T => {
    if (items.length === 0) throw new RangeError('cannot pick from an empty list');
    return items[int(items.length)] as T;
  };
  const chars = (alphabet: string, length: number): string => {
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet.charAt(int(alphabet.length));
    return out;
  };
  return {
    next,
    int,
    pick,
    chars,
    digits: (length) => chars(DIGITS, length),
    weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
      const entries = Object.entries(weights) as [K, number][];
      const total = entries.reduce((sum, [, weight]) => sum + weight, 0);
      if (!(total > 0)) throw new RangeError('weights must add up to more than zero');
      let roll = next() * total;
      for (const [key, weight] of entries) {
        roll -= weight;
        if (roll < 0) return key;
      }
      // Only reachable through rounding: fall back to the last key that can be drawn at all.
      return (entries.findLast(([, weight]) => weight > 0) as [K, number])[0];
    },
  };
}
