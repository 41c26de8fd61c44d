/**
 * bench/engine: one adapter per engine, so every workload runs the same way on jubilant-db, lmdb-js and
 * better-sqlite3. Keys are strings, values 100-byte Buffers.
 *
 * Durable writes:
 * - jubilant: `set` with durability 'fsync' resolves after the group commit's fdatasync covers it.
 * - lmdb-js: default sync flags, which on Linux include overlappingSync: a put's promise resolves when
 *   its transaction is committed (visible) and the flush to disk follows. Opened with
 *   `separateFlushed: true` (it changes no sync flag) so each put also carries a `flushed` promise for
 *   its own transaction: a durable commit awaits that. Awaiting only the put is measured as well.
 * - better-sqlite3: WAL mode, synchronous=FULL, one autocommit INSERT OR REPLACE per commit. Its API is
 *   synchronous, so it runs one commit at a time.
 * A "batch" is 16 rows in one commit: jubilant, one transaction of 16 SETs (one WAL record); lmdb-js,
 * 16 puts in one event turn (one transaction); better-sqlite3, 16 INSERTs in one transaction.
 */
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';

export const ENGINE_NAMES = ['jubilant', 'lmdb', 'sqlite'];
export const RANGE_SCAN_KEYS = 100;
export const LOAD_WRITERS = 256;

// ---------------------------------------------------------------------------------------------------
// jubilant-db

/**
 * A plain Uint8Array over a Buffer's bytes. jubilant copies a value on `set` with `value.slice()`,
 * which for a Buffer is a view, not a copy: the stored value would alias the caller's memory (a bug,
 * see bench/README.md). The bench passes plain Uint8Arrays, which are copied as intended.
 */
const plain = (value) => new Uint8Array(value.buffer, value.byteOffset, value.byteLength);

export function jubilantEngine(Database) {
  return {
    name: 'jubilant',
    title: 'jubilant',
    async open(directory, { cacheBytes } = {}) {
      const db = await Database.open(join(directory, 'jubilant'), {
        durability: 'fsync',
        ...(cacheBytes === undefined ? {} : { cacheBytes }),
      });
      return {
        db,
        put: (key, value) => db.set(key, plain(value)),
        putRelaxed: (key, value) => db.set(key, plain(value), { durability: 'relaxed' }),
        putBatch: (entries) =>
          db.transaction({
            keys: entries.map(([key], id) => ({ id, mode: 'RW', key })),
            ops: entries.map(([, value], id) => ({ op: 'SET', id, value: plain(value) })),
          }),
        get: (key) => db.get(key),
        async rangeScan(start) {
          let read = 0;
          for await (const _entry of db.scan({ start, limit: RANGE_SCAN_KEYS })) read += 1;
          return read;
        },
        async fullScan() {
          let read = 0;
          for await (const _entry of db.scan()) read += 1;
          return read;
        },
        /** Durable sets from LOAD_WRITERS concurrent writers, then a checkpoint. */
        async load(count, keyAt, valueAt) {
          let next = 0;
          const writer = async () => {
            while (next < count) {
              const index = next++;
              await db.set(keyAt(index), plain(valueAt(index)));
            }
          };
          await Promise.all(Array.from({ length: LOAD_WRITERS }, writer));
          await db.checkpoint();
        },
        stats: () => db.stats(),
        close: () => db.close(),
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// lmdb-js

const LMDB_LOAD_CHUNK = 10_000;

export function lmdbEngine(lmdb) {
  return {
    name: 'lmdb',
    title: 'lmdb-js',
    async open(directory) {
      const db = lmdb.open({ path: join(directory, 'lmdb'), encoding: 'binary', separateFlushed: true });
      const flushedOf = (promise) => {
        if (promise?.flushed === undefined) throw new Error('lmdb-js: a put without a flushed promise');
        return promise.flushed;
      };
      return {
        db,
        put: (key, value) => flushedOf(db.put(key, value)),
        putCommitted: (key, value) => db.put(key, value),
        putBatch: (entries) => Promise.all(entries.map(([key, value]) => flushedOf(db.put(key, value)))),
        get: (key) => db.get(key),
        rangeScan(start) {
          let read = 0;
          for (const _entry of db.getRange({ start, limit: RANGE_SCAN_KEYS })) read += 1;
          return read;
        },
        fullScan() {
          let read = 0;
          for (const _entry of db.getRange()) read += 1;
          return read;
        },
        /** Synchronous transactions of LMDB_LOAD_CHUNK puts, then a wait for the flush. */
        async load(count, keyAt, valueAt) {
          for (let chunk = 0; chunk < count; chunk += LMDB_LOAD_CHUNK) {
            db.transactionSync(() => {
              for (let index = chunk; index < Math.min(count, chunk + LMDB_LOAD_CHUNK); index++) {
                db.putSync(keyAt(index), valueAt(index));
              }
            });
            await nextTurn();
          }
          await db.flushed;
        },
        close: () => db.close(),
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// better-sqlite3

export function sqliteEngine(BetterSqlite3) {
  return {
    name: 'sqlite',
    title: 'better-sqlite3',
    async open(directory, { cacheBytes } = {}) {
      const db = new BetterSqlite3(join(directory, 'sqlite.db'));
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      if (cacheBytes !== undefined) db.pragma(`cache_size = -${Math.ceil(cacheBytes / 1024)}`);
      db.exec('CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID');
      const insert = db.prepare('INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)');
      const select = db.prepare('SELECT v FROM kv WHERE k = ?').pluck();
      const range = db.prepare('SELECT k, v FROM kv WHERE k >= ? ORDER BY k LIMIT ?');
      const all = db.prepare('SELECT k, v FROM kv ORDER BY k');
      const insertMany = db.transaction((entries) => {
        for (const [key, value] of entries) insert.run(key, value);
      });
      return {
        db,
        put: (key, value) => insert.run(key, value),
        putBatch: (entries) => insertMany(entries),
        get: (key) => select.get(key),
        rangeScan(start) {
          let read = 0;
          for (const _entry of range.iterate(start, RANGE_SCAN_KEYS)) read += 1;
          return read;
        },
        fullScan() {
          let read = 0;
          for (const _entry of all.iterate()) read += 1;
          return read;
        },
        /** One transaction. */
        async load(count, keyAt, valueAt) {
          db.transaction(() => {
            for (let index = 0; index < count; index++) insert.run(keyAt(index), valueAt(index));
          })();
        },
        close: async () => db.close(),
      };
    },
  };
}
