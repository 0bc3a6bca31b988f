/**
 * Owners' signatures over the messages the appliance issues (approvals, rejections, owner changes, unfreezes), shared
 * by every command that needs them. Three ways, combinable except for the first:
 *
 *   --print-message        print the exact message and stop: sign it elsewhere (hardware wallet, another machine)
 *   --key-file FILE        sign here with an owner key file (repeat for a quorum)
 *   --signature KEY=HEX    a signature made elsewhere by owner KEY (repeatable), over the message in
 *                          --message-file FILE (as --print-message wrote it) or, without it, the message fetched again
 *
 * In human mode the message is shown before it is signed.
 */
import { readFileSync } from 'node:fs';
import { flag, hexBytes, list, str, type OptionSpec, type ParsedInput } from './command.ts';
import type { Context } from './context.ts';
import { UsageError } from './errors.ts';
import { keyTypeOf, ownerAddress, readKeyFile, sameKey, signOwnerMessage, type OwnerKey } from './keys.ts';

/** The signing options, added to each command that signs. */
export const SIGNING_OPTIONS: Record<string, OptionSpec> = {
  'key-file': { type: 'string', multiple: true, value: 'FILE', help: 'owner key file to sign with (repeat for several owners)', complete: 'file' },
  signature: { type: 'string', multiple: true, value: 'KEY=HEX', help: 'a signature made elsewhere by owner KEY (repeatable)' },
  'message-file': { type: 'string', value: 'FILE', help: 'the message the --signature values sign, as --print-message wrote it', complete: 'file' },
  'print-message': { type: 'boolean', help: 'print the message to sign and stop' },
};

/** A signature ready to send (OwnerSignature). */
export interface OwnerSig {
  key: string;
  signature: Uint8Array;
}

/** The parsed signing options. */
export interface Signing {
  keys: OwnerKey[];
  pasted: OwnerSig[];
  printMessage: boolean;
  /** The message from --message-file, exactly. */
  message: string | undefined;
}

/** True when any signing option was given. */
export function hasSigning(s: Signing): boolean {
  return s.printMessage || s.keys.length > 0 || s.pasted.length > 0;
}

/** Parses --key-file, --signature, --message-file and --print-message. Key files are read and checked now. */
export function parseSigning(input: ParsedInput, opts: { required: boolean }): Signing {
  const printMessage = flag(input, 'print-message');
  const files = list(input, 'key-file');
  const sigs = list(input, 'signature');
  const messageFile = str(input, 'message-file');
  if (printMessage && (files.length > 0 || sigs.length > 0 || messageFile !== undefined)) {
    throw new UsageError('--print-message cannot be combined with --key-file, --signature or --message-file');
  }
  if (messageFile !== undefined && sigs.length === 0) throw new UsageError('--message-file goes with --signature');
  if (opts.required && !printMessage && files.length === 0 && sigs.length === 0) {
    throw new UsageError('give --key-file FILE, --signature KEY=HEX, or --print-message');
  }
  const pasted = sigs.map((s): OwnerSig => {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new UsageError(`--signature must be KEY=HEX (got "${s}")`);
    const key = s.slice(0, eq);
    const type = keyTypeOf(key);
    if (!type) throw new UsageError(`--signature: "${key}" is neither a Solana (base58) nor an EVM (0x…) address`);
    const signature = hexBytes(s.slice(eq + 1), `--signature for ${key}`);
    const want = type === 'ed25519' ? 64 : 65;
    if (signature.length !== want) throw new UsageError(`--signature for ${key}: ${type === 'ed25519' ? 'an Ed25519' : 'an EVM'} signature is ${want} bytes, got ${signature.length}`);
    return { key, signature };
  });
  let message: string | undefined;
  if (messageFile !== undefined) {
    try {
      // The appliance's messages never end with a newline; an editor or a terminal copy may have added one.
      message = readFileSync(messageFile, 'utf8').replace(/\r?\n$/, '');
    } catch {
      throw new UsageError(`cannot read --message-file ${messageFile}`);
    }
  }
  return { keys: files.map(readKeyFile), pasted, printMessage, message };
}

/**
 * --print-message: the exact message on stdout (with --json: {message, expireTime}); when stdout is not a terminal
 * nothing is added to it, so `> msg.txt` keeps it byte for byte for --message-file.
 */
export function printMessage(ctx: Context, message: string, expireTime: Date | undefined, next: string): void {
  if (ctx.json) {
    ctx.out.data({ message, expireTime: expireTime?.toISOString() ?? null });
    return;
  }
  ctx.out.write(message);
  if (ctx.stdoutIsTTY && !message.endsWith('\n')) ctx.out.line();
  ctx.note(`waiaas-ctl: this is the message to sign${expireTime ? `; it expires at ${expireTime.toISOString()}` : ''}.`);
  ctx.note(`waiaas-ctl: then: ${next} --signature KEY=HEX --message-file FILE`);
}

/**
 * Signs `message` with every key file and adds the pasted signatures. Shows the message first in human mode.
 * Refuses two signatures by the same owner.
 */
export async function collectSignatures(ctx: Context, signing: Signing, message: string, expireTime: Date | undefined, what: string): Promise<OwnerSig[]> {
  if (!ctx.json) {
    ctx.out.line(`Message to sign (${what}${expireTime ? `, expires ${expireTime.toISOString()}` : ''}):`);
    ctx.out.line(message.split('\n').map((l) => `  │ ${l}`.trimEnd()).join('\n'));
  }
  const out: OwnerSig[] = [];
  for (const key of signing.keys) {
    const address = await ownerAddress(key);
    out.push({ key: address, signature: await signOwnerMessage(key, message) });
    if (!ctx.json) ctx.out.line(`signed by ${address} (${key.file})`);
  }
  out.push(...signing.pasted);
  for (let i = 0; i < out.length; i++) {
    for (let j = 0; j < i; j++) {
      if (sameKey(out[i]!.key, out[j]!.key)) throw new UsageError(`owner ${out[i]!.key} signs twice (each owner signs once)`);
    }
  }
  return out;
}
