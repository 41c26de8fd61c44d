/**
 * bench/txn: key choice for the transaction workloads. Uncontended: each writer walks its own disjoint
 * key range; hot set: keys drawn uniformly from a small shared set; Zipfian: keys drawn with
 * P(rank r) proportional to 1 / r^s over a larger shared set. Keys within one transaction are distinct.
 */

const KEY_DIGITS = 8;

/** Keys sort in index order: `<prefix>:%08d`. */
export function keyOf(prefix, index) {
  return `${prefix}:${String(index).padStart(KEY_DIGITS, '0')}`;
}

/** Keys each writer owns in the uncontended workloads. */
export const OWN_KEYS_PER_WRITER = 4096;

/**
 * A Zipfian sampler over ranks 0..n-1 (rank 0 the hottest), by binary search in the cumulative
 * distribution; `random` is a SeededRandom.
 */
export function zipfian(n, s, random) {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let rank = 0; rank < n; rank++) {
    total += 1 / (rank + 1) ** s;
    cdf[rank] = total;
  }
  for (let rank = 0; rank < n; rank++) cdf[rank] /= total;
  return () => {
    const u = random.next();
    let low = 0;
    let high = n - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (cdf[middle] < u) low = middle + 1;
      else high = middle;
    }
    return low;
  };
}

/** `count` distinct indices from `draw()` (rejection of repeats). */
function distinct(count, draw) {
  const chosen = new Set();
  while (chosen.size < count) chosen.add(draw());
  return [...chosen];
}

/**
 * A key chooser for one workload: `choose(writerIndex)` returns the keys of that writer's next
 * transaction. `kind` is 'own' (disjoint ranges), 'hot' (uniform over `hotKeys`) or 'zipf'
 * (Zipfian with exponent `zipfS` over `zipfKeys`).
 */
export function keyChooser({ kind, keysPerTxn, writers, random, hotKeys, zipfKeys, zipfS }) {
  if (kind === 'own') {
    const next = new Array(writers).fill(0);
    return (writer) => {
      const keys = [];
      for (let i = 0; i < keysPerTxn; i++) {
        keys.push(keyOf(`own${writer}`, next[writer]));
        next[writer] = (next[writer] + 1) % OWN_KEYS_PER_WRITER;
      }
      return keys;
    };
  }
  if (kind === 'hot') {
    if (keysPerTxn > hotKeys) throw new Error(`${keysPerTxn} keys per transaction from ${hotKeys} hot keys`);
    return () => distinct(keysPerTxn, () => random.int(hotKeys)).map((index) => keyOf('hot', index));
  }
  if (kind === 'zipf') {
    const draw = zipfian(zipfKeys, zipfS, random);
    return () => distinct(keysPerTxn, draw).map((index) => keyOf('zipf', index));
  }
  throw new Error(`unknown key choice '${kind}'`);
}

/** A transaction that increments every key by 1: keys declared RW, one INCR each. */
export function incrementAll(keys) {
  return {
    keys: keys.map((key, id) => ({ id, mode: 'RW', key })),
    ops: keys.map((_, id) => ({ op: 'INCR', id, by: 1n })),
  };
}
