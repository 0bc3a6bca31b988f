-- Wallets, their HSM keys, their policies, and a record of every sign request with its outcome.

CREATE TABLE wallets (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  wallet_id    TEXT NOT NULL UNIQUE,
  chain        TEXT NOT NULL CHECK (chain IN ('solana', 'evm')),
  address      TEXT NOT NULL UNIQUE,
  key_id       BLOB NOT NULL UNIQUE,               -- the HSM key's CKA_ID
  algorithm    TEXT NOT NULL CHECK (algorithm IN ('ed25519', 'secp256k1')),
  public_key   BLOB NOT NULL,
  token_label  TEXT NOT NULL,
  labels       TEXT NOT NULL DEFAULT '{}',         -- JSON object
  creator      TEXT NOT NULL,                      -- identity URI of the caller that created it
  request_id   TEXT,                               -- idempotency key of the creating call
  create_time  TEXT NOT NULL,
  UNIQUE (creator, request_id)
);

CREATE TABLE policies (
  wallet_id    TEXT NOT NULL REFERENCES wallets (wallet_id),
  version      INTEGER NOT NULL,
  document     TEXT NOT NULL,                      -- canonical JSON of the policy document
  policy_hash  TEXT NOT NULL,
  set_by       TEXT NOT NULL,
  create_time  TEXT NOT NULL,
  PRIMARY KEY (wallet_id, version)
);

CREATE TABLE sign_requests (
  seq            INTEGER PRIMARY KEY AUTOINCREMENT,
  id             TEXT NOT NULL UNIQUE,             -- server id, req_...
  caller         TEXT NOT NULL,                    -- identity URI
  request_id     TEXT,                             -- caller's idempotency key
  wallet_id      TEXT NOT NULL REFERENCES wallets (wallet_id),
  kind           TEXT NOT NULL,                    -- solana_transaction | evm_transaction
  payload_hash   TEXT NOT NULL,                    -- sha256 over what was asked, to spot a reused request_id
  effects        TEXT,                             -- JSON of the decoded effects
  verdict        TEXT,                             -- INSTANT | NOTIFY | DELAY | APPROVAL | DENY
  rule           TEXT,                             -- the rule that decided
  policy_version INTEGER,
  policy_hash    TEXT,
  state          TEXT NOT NULL CHECK (state IN ('SIGNING', 'SIGNED', 'REFUSED', 'FAILED')),
  response       BLOB,                             -- serialized response, returned again on a retry
  error_reason   TEXT,
  error_message  TEXT,
  error_metadata TEXT,                             -- JSON object
  create_time    TEXT NOT NULL,
  update_time    TEXT NOT NULL,
  UNIQUE (caller, request_id)
);

CREATE INDEX sign_requests_wallet ON sign_requests (wallet_id, seq);
