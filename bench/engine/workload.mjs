/**
 * bench/engine: the built engine, the reference engines, keys and values.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const VALUE_BYTES = 100;
/** Distinct value contents, shared round-robin. */
const VALUE_POOL_SIZE = 256;
const KEY_DIGITS = 10;

/** Keys are `key:%010d` (14 bytes), so they sort in index order. */
export function keyOf(index) {
  return `key:${String(index).padStart(KEY_DIGITS, '0')}`;
}

export function valuePool(random) {
  return Array.from({ length: VALUE_POOL_SIZE }, () => Buffer.from(random.bytes(VALUE_BYTES)));
}

/** Imports the compiled engine from dist/, which `npm run build` at the repository root produces. */
export async function loadDist() {
  const dist = new URL('../../dist/src/', import.meta.url);
  if (!existsSync(fileURLToPath(new URL('engine/database.js', dist)))) {
    console.error(
      `engine-bench: ${fileURLToPath(dist)} has no built Database; run \`npm run build\` at the repository root first.`,
    );
    process.exit(1);
  }
  const [index, random] = await Promise.all([
    import(new URL('index.js', dist).href),
    import(new URL('util/random.js', dist).href),
  ]);
  return { Database: index.Database, SeededRandom: random.SeededRandom };
}

/** lmdb-js and better-sqlite3, installed by bench/package.json. */
export async function loadReferences(names) {
  const load = async (specifier) => {
    try {
      return await import(specifier);
    } catch (error) {
      console.error(
        `engine-bench: cannot load ${specifier} (${error.message}); run \`npm ci\` in bench/ first, ` +
          'or leave it out with --engines jubilant',
      );
      process.exit(1);
    }
  };
  return {
    lmdb: names.includes('lmdb') ? await load('lmdb') : undefined,
    BetterSqlite3: names.includes('sqlite') ? (await load('better-sqlite3')).default : undefined,
  };
}
