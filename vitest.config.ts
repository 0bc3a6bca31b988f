// Vitest runs every test file in its own forked process: pkcs11js and better-sqlite3 are native addons, and each
// worker gets its own SoftHSM2 token folder (test/support/softhsm.ts), so no two workers share HSM state.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts', 'server/**/*.test.ts', 'hsm/**/*.test.ts', 'clients/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
