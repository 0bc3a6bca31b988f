-- Who may connect and what they may do: agent and owner principals with their scopes, and the certificates the
-- appliance's CA issued to them (so that one can be revoked at once).

CREATE TABLE principals (
  uri           TEXT PRIMARY KEY,                  -- spiffe://waiaas/<role>/<name>
  role          TEXT NOT NULL CHECK (role IN ('agent', 'owner')),
  wallets       TEXT NOT NULL,                     -- JSON list of wallet ids, or ["*"]
  chains        TEXT NOT NULL,                     -- JSON list, or ["*"]
  operations    TEXT NOT NULL,                     -- JSON list
  rate_limit    INTEGER NOT NULL DEFAULT 0,        -- calls per second; 0 = default
  status        TEXT NOT NULL CHECK (status IN ('ACTIVE', 'REVOKED')),
  create_time   TEXT NOT NULL,
  update_time   TEXT NOT NULL,
  created_by    TEXT NOT NULL
);

CREATE TABLE certificates (
  serial       TEXT PRIMARY KEY,                   -- lower-case hex
  uri          TEXT NOT NULL,
  issue_time   TEXT NOT NULL,
  expire_time  TEXT NOT NULL,
  revoked_time TEXT
);
CREATE INDEX certificates_uri ON certificates (uri);
