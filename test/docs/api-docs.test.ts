/**
 * The API reference, docs/api.md, is generated from the .proto comments by scripts/api-docs.ts. The committed file
 * must be exactly what the generator makes now (so a .proto change without regenerating fails `make test`); `--check`
 * says so with a non-zero exit on a stale copy; and the reference covers every service, RPC, message, field, enum and
 * value of waiaas.v1, cross-checked against the descriptors protoc-gen-es generated (an independent reading of the
 * same .proto files).
 */
import type { DescFile } from '@bufbuild/protobuf';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const SCRIPT = join(ROOT, 'scripts/api-docs.ts');
const COMMITTED = join(ROOT, 'docs/api.md');

function runScript(...args: string[]) {
  return spawnSync(process.execPath, [SCRIPT, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
}

/** The generated descriptors of package waiaas.v1 (gen/waiaas/v1/*_pb.js). */
async function generatedFiles(): Promise<DescFile[]> {
  const dir = join(ROOT, 'gen/waiaas/v1');
  const files: DescFile[] = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith('_pb.js')).sort()) {
    const mod = (await import(join(dir, name))) as Record<string, unknown>;
    for (const [key, value] of Object.entries(mod)) if (key.startsWith('file_')) files.push(value as DescFile);
  }
  return files;
}

/** The text of the section under `### name` (up to the next ### or ## heading). */
function section(doc: string, name: string): string {
  const start = doc.indexOf(`\n### ${name}\n`);
  expect(start, `section ${name}`).toBeGreaterThan(0);
  const rest = doc.slice(start + 1);
  const end = rest.slice(4).search(/\n##{1,2} /);
  return end < 0 ? rest : rest.slice(0, end + 4);
}

describe('API reference', () => {
  let tmp: string;
  let doc: string;

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'waiaas-api-docs-'));
    doc = readFileSync(COMMITTED, 'utf8');
  });

  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  test('the committed docs/api.md is exactly what the generator makes from the .proto files', () => {
    const check = runScript('--check');
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
    const out = join(tmp, 'fresh.md');
    const gen = runScript('--out', out);
    expect(gen.status, gen.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(doc);
    // Stable: a second run makes the same bytes.
    const again = join(tmp, 'again.md');
    expect(runScript('--out', again).status).toBe(0);
    expect(readFileSync(again, 'utf8')).toBe(doc);
    expect(runScript('--stdout').stdout).toBe(doc);
  });

  test('--check exits non-zero on a stale copy, naming the first differing line and how to fix it', () => {
    const stale = join(tmp, 'stale.md');
    const lines = doc.split('\n');
    const at = lines.indexOf('| `VERDICT_DENY` | 5 | Refused. |');
    expect(at).toBeGreaterThan(0);
    lines[at] = '| `VERDICT_DENY` | 5 | Refused, unless asked nicely. |';
    writeFileSync(stale, lines.join('\n'));
    const res = runScript('--check', '--out', stale);
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('is stale');
    expect(res.stderr).toContain(`from line ${at + 1} on`);
    expect(res.stderr).toContain('Refused, unless asked nicely.');
    expect(res.stderr).toContain('Run `node scripts/api-docs.ts`');

    // A copy with a section missing, or no file at all, is stale too.
    writeFileSync(stale, doc.replace(/\n### Wallet\n[\s\S]*?(?=\n### )/, ''));
    expect(runScript('--check', '--out', stale).status).toBe(1);
    const missing = runScript('--check', '--out', join(tmp, 'absent.md'));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('is missing');
    // The committed file was not touched by any of this.
    expect(readFileSync(COMMITTED, 'utf8')).toBe(doc);
  });

  test('it covers every service, RPC, message, field, enum and value of waiaas.v1', async () => {
    const files = await generatedFiles();
    expect(files.length).toBeGreaterThanOrEqual(9);
    let headings = 0;
    for (const file of files) {
      for (const service of file.services) {
        headings++;
        const s = section(doc, service.name);
        expect(s).toContain(`\`waiaas.v1.${service.name}\`, in \`proto/${file.name}.proto\`.`);
        for (const m of service.methods) {
          const streaming = m.methodKind === 'server_streaming' ? 'stream ' : '';
          expect(doc).toContain(`#### ${service.name}.${m.name}\n`);
          expect(doc).toContain(`\`rpc ${m.name}(${m.input.name}) returns (${streaming}${m.output.name})\` — gRPC path \`/waiaas.v1.${service.name}/${m.name}\``);
        }
      }
      const messages = [...file.messages];
      for (const message of messages) {
        headings++;
        messages.push(...message.nestedMessages);
        const s = section(doc, message.name);
        if (message.fields.length === 0) expect(s).toContain('*No fields.*');
        for (const f of message.fields) expect(s, `${message.name}.${f.name}`).toMatch(new RegExp(`\\n\\| \`${f.name}\` \\| ${f.number} \\| .+ \\| .+ \\|\\n`));
      }
      for (const e of [...file.enums, ...file.messages.flatMap((m) => m.nestedEnums)]) {
        headings++;
        const s = section(doc, e.name);
        for (const v of e.values) expect(s).toContain(`| \`${v.name}\` | ${v.number} | `);
      }
    }
    expect(doc.match(/^### /gm)?.length).toBe(headings);
  });

  test('it carries the .proto comments, types with links, oneofs, maps, streams and reserved names', () => {
    expect(section(doc, 'Verdict')).toContain("Verdict is the policy engine's decision on a request. The strictest verdict of all matching rules wins:\nDENY > APPROVAL");
    expect(section(doc, 'SignerService')).toContain('| [SignEvmTransaction](#signerservicesignevmtransaction) | [`SignEvmTransactionRequest`](#signevmtransactionrequest) | [`SignEvmTransactionResponse`](#signevmtransactionresponse) |');
    expect(doc).toContain('Signs an unsigned EVM transaction (legacy with EIP-155 chain id, EIP-2930, EIP-1559 or EIP-7702).');
    const wallet = section(doc, 'Wallet');
    expect(wallet).toContain('| `chain` | 2 | [`Chain`](#chain) | Chain family. REQUIRED at creation, immutable. |');
    expect(wallet).toContain('| `labels` | 5 | `map<string, string>` |');
    expect(wallet).toContain('| `create_time` | 6 | `google.protobuf.Timestamp` |');
    expect(section(doc, 'ListWalletsResponse')).toContain('| `wallets` | 1 | repeated [`Wallet`](#wallet) |');
    expect(section(doc, 'SignPayload')).toContain('| `evm_transaction` | 2 | [`EvmTransactionPayload`](#evmtransactionpayload) | *One of `payload`.* An unsigned EVM transaction and its chain id. |');
    expect(section(doc, 'Policy')).toContain('Reserved (never reused): field numbers 2, 3; names `allowed_recipients`, `max_native_per_transaction`.');
    expect(section(doc, 'SignRequestService')).toContain('stream [`WatchSignRequestResponse`](#watchsignrequestresponse)');
    // Table cells stay one row: pipes in comments are escaped.
    expect(section(doc, 'EvmSignature')).not.toMatch(/[^\\]\|\|/);
    expect(doc).toContain('65 bytes r \\|\\| s \\|\\| v');
    // Only waiaas.v1: the vendored google.rpc messages are not part of the reference.
    expect(doc).not.toContain('### ErrorInfo');
    // Sorted by name within each part.
    for (const part of ['Services', 'Messages', 'Enums']) {
      const body = doc.split(`\n## ${part}\n`)[1]!.split('\n## ')[0]!;
      const names = [...body.matchAll(/^### (.+)$/gm)].map((m) => m[1]!);
      expect(names, part).toEqual([...names].sort());
    }
  });
});
