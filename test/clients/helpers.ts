/**
 * Support for the adapter tests: owners registered and approving through the real waiaas-ctl (key files from
 * `keys generate`, `owners add` by the admin, `approvals approve|reject --key-file`), and small waiting helpers.
 */
import { join } from 'node:path';
import { expect } from 'vitest';
import { conn, ctl, ctlJson, tempDir } from '../ctl/helpers.ts';
import type { TestServer } from '../support/server.ts';

/** An owner key file made by `waiaas-ctl keys generate`. */
export interface OwnerKeyFile {
  file: string;
  address: string;
}

/** Generates an owner key file (Ed25519 unless `type` says evm). */
export async function ownerKeyFile(type: 'ed25519' | 'evm' = 'ed25519'): Promise<OwnerKeyFile> {
  const dir = await tempDir('waiaas-owner-');
  const file = join(dir, 'owner.key');
  const { address } = await ctlJson<{ address: string }>(['keys', 'generate', '--type', type, '--out', file]);
  return { file, address };
}

/** Registers `owner` as the wallet's (only) owner with `waiaas-ctl owners add`, as the admin. */
export async function addOwner(server: TestServer, walletId: string, owner: OwnerKeyFile): Promise<void> {
  await ctlJson(['owners', 'add', walletId, '--owner', owner.address, '--label', 'test-owner', ...conn(server, 'admin')]);
}

/** `waiaas-ctl approvals approve|reject REQ --key-file FILE`, as the owner; returns the request's state after it. */
export async function decideWithCtl(server: TestServer, signRequestId: string, owner: OwnerKeyFile, action: 'approve' | 'reject' = 'approve'): Promise<string> {
  const r = await ctl(['approvals', action, signRequestId, '--key-file', owner.file, '--json', ...conn(server)]);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { request: { signRequest: { state: string } } }).request.signRequest.state;
}

/** A promise with its resolver, e.g. to learn a pending request's id from an onPending callback. */
export function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** The error a promise rejects with (fails when it resolves). */
export async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected the promise to reject');
}
