-- The policy engine: pending requests (DELAY / APPROVAL) with their payload and expiry, matched rules, and the spend
-- ledger (reservations plus per-minute running totals, so that a window's total is read without scanning history).

-- sign_requests is rebuilt: SQLite cannot change a CHECK constraint in place.
CREATE TABLE sign_requests_v2 (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  id              TEXT NOT NULL UNIQUE,
  caller          TEXT NOT NULL,
  request_id      TEXT,
  wallet_id       TEXT NOT NULL REFERENCES wallets (wallet_id),
  kind            TEXT NOT NULL,
  payload_hash    TEXT NOT NULL,
  payload         BLOB,                            -- serialized SignPayload, kept while the request may still be signed
  effects         TEXT,
  verdict         TEXT,
  delay_seconds   INTEGER NOT NULL DEFAULT 0,
  rule            TEXT,
  detail          TEXT,
  matched         TEXT,                            -- JSON list of matched rules
  policy_version  INTEGER,
  policy_hash     TEXT,
  state           TEXT NOT NULL CHECK (state IN ('PENDING', 'SIGNING', 'SIGNED', 'REFUSED', 'FAILED', 'CANCELLED', 'EXPIRED')),
  response        BLOB,
  error_reason    TEXT,
  error_message   TEXT,
  error_metadata  TEXT,
  create_time     TEXT NOT NULL,
  update_time     TEXT NOT NULL,
  expire_time     TEXT,
  not_before_time TEXT,
  UNIQUE (caller, request_id)
);
INSERT INTO sign_requests_v2 (seq, id, caller, request_id, wallet_id, kind, payload_hash, effects, verdict, rule, policy_version,
  policy_hash, state, response, error_reason, error_message, error_metadata, create_time, update_time)
SELECT seq, id, caller, request_id, wallet_id, kind, payload_hash, effects, verdict, rule, policy_version,
  policy_hash, state, response, error_reason, error_message, error_metadata, create_time, update_time
FROM sign_requests;
DROP TABLE sign_requests;
ALTER TABLE sign_requests_v2 RENAME TO sign_requests;
CREATE INDEX sign_requests_wallet ON sign_requests (wallet_id, seq);
CREATE INDEX sign_requests_pending ON sign_requests (expire_time) WHERE state = 'PENDING';

-- One row per request and asset it reserved ('#count' for the request itself). Released rows stay for the record.
CREATE TABLE spend_reservations (
  sign_request_id TEXT NOT NULL REFERENCES sign_requests (id),
  wallet_id       TEXT NOT NULL,
  asset           TEXT NOT NULL,
  amount          TEXT NOT NULL,                   -- decimal base units
  time_ms         INTEGER NOT NULL,
  released        INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (sign_request_id, asset)
);

-- Reserved amounts per wallet, asset and minute, with a running total (`cum`: everything up to and including this
-- minute). A window's total is the difference of two running totals: two index seeks, whatever the history.
CREATE TABLE spend_buckets (
  wallet_id TEXT NOT NULL,
  asset     TEXT NOT NULL,
  start_ms  INTEGER NOT NULL,
  amount    TEXT NOT NULL,
  cum       TEXT NOT NULL,
  PRIMARY KEY (wallet_id, asset, start_ms)
) WITHOUT ROWID;

CREATE TABLE wallet_activity (
  wallet_id    TEXT PRIMARY KEY REFERENCES wallets (wallet_id),
  last_sign_ms INTEGER NOT NULL
);
