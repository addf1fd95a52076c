/**
 * The order of firmware versions, as campaigns target ranges of them and tests pick a newer one: dotted numbers
 * compare numerically, other parts as text.
 */

/** Negative, zero or positive as `a` sorts before, with or after `b` (`12.10.0` after `12.9.4`). */
export function compareVersions(a: string, b: string): number {
  const left = a.trim().split(/[.\-_+ ]/);
  const right = b.trim().split(/[.\-_+ ]/);
  for (let index = 0; index < Math.max(left.length, right.length); index++) {
    const x = left[index];
    const y = right[index];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const xNumber = /^\d+$/.test(x) ? Number(x) : NaN;
    const yNumber = /^\d+$/.test(y) ? Number(y) : NaN;
    if (!Number.isNaN(xNumber) && !Number.isNaN(yNumber)) {
      if (xNumber !== yNumber) return xNumber < yNumber ? -1 : 1;
    } else if (x !== y) {
      return x.localeCompare(y, 'en');
    }
  }
  return 0;
}
