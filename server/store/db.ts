/**
 * Opens the SQLite database (better-sqlite3) in WAL mode and applies versioned migrations. Migrations are the
 * numbered .sql files next to this module, applied in order inside one transaction each; the applied version is kept
 * in `PRAGMA user_version`. A database newer than this program is refused rather than guessed at.
 */
import Database from 'better-sqlite3';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A better-sqlite3 database handle. */
export type Db = Database.Database;

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

/** The migrations this program knows, in order: version N is file `NNN_*.sql`. */
export function migrations(): { version: number; name: string; sql: string }[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((name, i) => {
      const version = Number(name.slice(0, 3));
      if (version !== i + 1) throw new Error(`migration ${name} is out of sequence (expected version ${i + 1})`);
      return { version, name, sql: readFileSync(join(MIGRATIONS_DIR, name), 'utf8') };
    });
}

/** Opens (creating if needed) the database at `path`, sets WAL and safety pragmas, and migrates it. */
export function openDb(path: string): Db {
  // Create the file owner-only before SQLite opens it; SQLite gives its -wal and -shm files the same mode.
  closeSync(openSync(path, 'a', 0o600));
  const db = new Database(path, { fileMustExist: false });
  try {
    db.pragma('journal_mode = WAL');
    // FULL: a committed decision survives power loss, which matters more than write speed for a signer.
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    // 64 MiB of page cache: the indexes the signing path touches stay in memory as history grows.
    db.pragma('cache_size = -65536');
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  const all = migrations();
  const latest = all.length;
  if (current > latest) {
    throw new Error(`database schema version ${current} is newer than this program (${latest}); refusing to open it`);
  }
  for (const m of all.slice(current)) {
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
}
