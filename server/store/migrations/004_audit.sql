-- The audit log: an append-only, hash-chained record of every sign request, decision, signature, approval and admin
-- change, written in the same transaction as the change it records (server/audit/audit.ts; docs/audit.md).
--
-- seq is assigned by AuditLog.append as head + 1 and is contiguous from 1 (no AUTOINCREMENT: rows are never deleted,
-- and an append that is rolled back leaves no gap because the next append reuses its number). A gap therefore always
-- means a removed entry. STRICT: every column holds exactly the type it declares, so nothing is coerced before it is
-- hashed.
CREATE TABLE audit_log (
  seq             INTEGER PRIMARY KEY CHECK (seq >= 1),
  time            TEXT NOT NULL,                   -- RFC 3339 UTC, as given by the writer
  actor           TEXT NOT NULL,                   -- identity URI of who caused it, or 'system'
  action          TEXT NOT NULL,                   -- one of AUDIT_ACTIONS (checked by the writer, not here, so that
                                                   -- adding an action needs no rebuild of an append-only table)
  wallet_id       TEXT,
  sign_request_id TEXT,
  data            TEXT NOT NULL,                   -- canonical JSON object
  prev_hash       TEXT NOT NULL CHECK (length(prev_hash) = 64),
  hash            TEXT NOT NULL CHECK (length(hash) = 64)  -- sha256(prev_hash || canonical entry), lower-case hex
) STRICT;

CREATE INDEX audit_log_wallet ON audit_log (wallet_id, seq) WHERE wallet_id IS NOT NULL;
CREATE INDEX audit_log_request ON audit_log (sign_request_id, seq) WHERE sign_request_id IS NOT NULL;

-- Append-only for anything that goes through SQL. Someone with the file can still drop these triggers and edit it:
-- that is what the hash chain (and an anchored head) detects.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- An entry can only extend the chain at its head: the next seq, linked to the current head's hash. This also stops
-- INSERT OR REPLACE (whose implicit delete fires no DELETE trigger) from overwriting an entry. The hash itself is
-- checked by verification, not here (SQLite has no SHA-256).
CREATE TRIGGER audit_log_append_at_head BEFORE INSERT ON audit_log
WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_log)
  OR NEW.prev_hash IS NOT COALESCE((SELECT hash FROM audit_log WHERE seq = NEW.seq - 1),
                                   '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN
  SELECT RAISE(ABORT, 'audit_log: an entry must extend the chain at its head');
END;
