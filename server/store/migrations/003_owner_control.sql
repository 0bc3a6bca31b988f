-- Owner control: owners and thresholds, freezes, approvals with replay protection, and the notification outbox.

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE wallet_owners (
  wallet_id   TEXT NOT NULL REFERENCES wallets (wallet_id),
  key         TEXT NOT NULL,                       -- base58 Solana address or lower-case EVM address
  key_type    TEXT NOT NULL CHECK (key_type IN ('ed25519', 'evm')),
  label       TEXT NOT NULL DEFAULT '',
  proven_time TEXT,                                -- first accepted signed action
  PRIMARY KEY (wallet_id, key)
);

CREATE TABLE wallet_control (
  wallet_id         TEXT PRIMARY KEY REFERENCES wallets (wallet_id),
  threshold         INTEGER NOT NULL DEFAULT 0,
  ownership_version INTEGER NOT NULL DEFAULT 0,
  frozen            INTEGER NOT NULL DEFAULT 0,
  frozen_reason     TEXT,
  frozen_by         TEXT,
  frozen_time       TEXT
);

CREATE TABLE appliance_state (
  id            INTEGER PRIMARY KEY CHECK (id = 1),
  frozen        INTEGER NOT NULL DEFAULT 0,
  reason        TEXT,
  frozen_by     TEXT,
  frozen_time   TEXT,
  unfreeze_time TEXT                               -- a scheduled unfreeze (admin + delay)
);
INSERT INTO appliance_state (id) VALUES (1);

CREATE TABLE approvals (
  sign_request_id TEXT NOT NULL REFERENCES sign_requests (id),
  owner_key       TEXT NOT NULL,
  action          TEXT NOT NULL CHECK (action IN ('APPROVE', 'REJECT')),
  signature       BLOB NOT NULL,
  caller          TEXT NOT NULL,                   -- identity URI that submitted it
  create_time     TEXT NOT NULL,
  PRIMARY KEY (sign_request_id, owner_key)
);

-- Every owner signature ever accepted, so none can be used twice.
CREATE TABLE used_signatures (
  signature_hash TEXT PRIMARY KEY,
  purpose        TEXT NOT NULL,
  create_time    TEXT NOT NULL
);

-- Transactional outbox: a notification is written in the same transaction as the change it reports, so a restart
-- loses none; a worker delivers and retries.
CREATE TABLE notifications (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  sink            TEXT NOT NULL,
  event_type      TEXT NOT NULL,
  body            TEXT NOT NULL,                   -- JSON
  create_time     TEXT NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms INTEGER NOT NULL,
  delivered_time  TEXT,
  gave_up         INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT
);
CREATE INDEX notifications_due ON notifications (next_attempt_ms) WHERE delivered_time IS NULL AND gave_up = 0;
