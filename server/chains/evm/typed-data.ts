/**
 * EIP-712 typed data (`eth_signTypedData_v4` documents): strict parsing of the JSON, the digest the HSM signs, and the
 * effects the policy engine judges, including the grants of the permit types the server understands (EIP-2612,
 * DAI-style permit, Uniswap Permit2 allowance and signature-transfer messages, with or without witness).
 *
 * Principles:
 * - The server re-hashes the document itself (EIP-712: keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message)));
 *   a hash is never taken from the caller.
 * - What is judged is what is signed: every value must fit its declared type exactly, a message field that is not
 *   declared is refused (hashing would silently drop it, so a reader would see something that is not signed), JSON
 *   with duplicate keys is refused (parsers disagree on which one wins), and numbers are read from their literal text
 *   (JSON.parse would round a uint256 written as a JSON number).
 * - Known types are recognized by primary type AND exact structure (field names, types, order, nested types), never
 *   by name alone: a `Permit` with other fields is unknown typed data, flagged UNKNOWN_TYPED_DATA.
 * Every refusal is WAIAAS_TYPED_DATA_INVALID with metadata.field naming the part, e.g. `types.Permit[2].type`,
 * `message.details[0].amount`, `domain.chainId`, or `json` (with an offset) for a syntax error.
 */
import { getAddress, hashTypedData, hexToBytes, type Hex } from 'viem';
import { WaiaasError } from '../../errors/error.ts';
import { emptyEffects, type Effects, type Grant } from '../../policy/effects.ts';

/** Largest typed-data document accepted, in UTF-8 bytes of JSON. */
export const EIP712_MAX_JSON_BYTES = 65_536;

/** The canonical Uniswap Permit2 contract (same address on every chain where it was deployed with CREATE2). */
export const PERMIT2_ADDRESS = '0x000000000022d473030f116ddee9f6b43ac78ba3';

/** A value of typed data after validation: integers as bigint, addresses and bytes as lower-case 0x hex. */
export type Eip712Value = string | bigint | boolean | readonly Eip712Value[] | { readonly [field: string]: Eip712Value };

/** One member of an EIP-712 struct type. */
export interface Eip712Field {
  readonly name: string;
  readonly type: string;
}

/** The validated document, exactly as it was hashed. */
export interface Eip712TypedData {
  /** Every struct type of the document, plus `EIP712Domain` (as declared, or inferred from the domain's fields). */
  readonly types: Readonly<Record<string, readonly Eip712Field[]>>;
  readonly primaryType: string;
  readonly domain: Readonly<Record<string, Eip712Value>>;
  readonly message: Readonly<Record<string, Eip712Value>>;
}

/** Typed data decoded for signing. */
export interface DecodedEip712 {
  /** The EIP-712 digest computed by the server: the 32 bytes the HSM signs. */
  digest: Uint8Array;
  /** chain 'evm', chainId from the domain when it has one, message { kind 'eip712', domain, primaryType }, grants. */
  effects: Effects;
  /** The validated document the digest was computed from. */
  typedData: Eip712TypedData;
}

// Nesting of the JSON document. The type graph is acyclic and values must be present, so this also bounds the
// recursion of validation and hashing.
const MAX_DEPTH = 32;
// A few hundred types and fields is far beyond any real protocol; the bounds keep recursion over types shallow.
const MAX_TYPES = 256;
const MAX_FIELDS = 256;
const MAX_NAME_LENGTH = 128;
const MAX_FIXED_ARRAY_LENGTH = 65_536;

/** Unix seconds at or above which an expiry means "never" (far beyond any real date; see expiryOf). */
const NO_EXPIRY = 2n ** 64n;
/** A uint256 amount this large is treated as unlimited: tokens use 2^256-1 (and other huge values) as "infinite". */
const UNLIMITED_UINT256 = 2n ** 255n;
/** Permit2 allowance amounts are uint160; type(uint160).max is never decremented, i.e. unlimited. */
const MAX_UINT160 = 2n ** 160n - 1n;

/** The standard EIP712Domain fields, in the canonical order, with their required types. */
const DOMAIN_FIELDS: ReadonlyMap<string, string> = new Map([
  ['name', 'string'],
  ['version', 'string'],
  ['chainId', 'uint256'],
  ['verifyingContract', 'address'],
  ['salt', 'bytes32'],
]);

function invalid(field: string, message: string, extra: Record<string, string> = {}, cause?: unknown): never {
  throw new WaiaasError('WAIAAS_TYPED_DATA_INVALID', message, { metadata: { field, ...extra }, cause });
}

// ---------------------------------------------------------------------------------------------------------------
// Strict JSON (RFC 8259): duplicate keys refused, numbers kept as their literal text, bounded nesting.

/** A JSON number as written, so that big integers keep every digit. */
interface JsonNumber {
  readonly literal: string;
}
type Json = null | boolean | string | JsonNumber | Json[] | Map<string, Json>;

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;
const ESCAPES: Readonly<Record<string, string>> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

function isJsonNumber(value: Json): value is JsonNumber {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Map);
}

function parseJson(source: string): Json {
  let pos = 0;
  const fail = (message: string): never => invalid('json', message, { offset: String(pos) });
  const skipWhitespace = (): void => {
    for (;;) {
      const c = source.charCodeAt(pos);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) pos++;
      else return;
    }
  };
  const parseString = (): string => {
    pos++; // opening quote
    let out = '';
    let start = pos;
    for (;;) {
      if (pos >= source.length) fail('unterminated string');
      const c = source.charCodeAt(pos);
      if (c === 0x22) {
        out += source.slice(start, pos);
        pos++;
        return out;
      }
      if (c < 0x20) fail('unescaped control character in string');
      if (c !== 0x5c) {
        pos++;
        continue;
      }
      out += source.slice(start, pos);
      const e = source[pos + 1] ?? '';
      if (e === 'u') {
        const hex = source.slice(pos + 2, pos + 6);
        if (!HEX4.test(hex)) fail('invalid \\u escape');
        out += String.fromCharCode(Number.parseInt(hex, 16));
        pos += 6;
      } else {
        const decoded = ESCAPES[e];
        if (decoded === undefined) fail('invalid escape');
        out += decoded;
        pos += 2;
      }
      start = pos;
    }
  };
  const parseValue = (depth: number): Json => {
    skipWhitespace();
    const c = source[pos];
    if (c === '{' || c === '[') {
      if (depth >= MAX_DEPTH) fail('document is nested too deeply');
      pos++;
      skipWhitespace();
      if (c === '[') {
        const array: Json[] = [];
        if (source[pos] === ']') {
          pos++;
          return array;
        }
        for (;;) {
          array.push(parseValue(depth + 1));
          skipWhitespace();
          if (source[pos] === ',') pos++;
          else if (source[pos] === ']') {
            pos++;
            return array;
          } else fail('expected , or ]');
        }
      }
      const object = new Map<string, Json>();
      if (source[pos] === '}') {
        pos++;
        return object;
      }
      for (;;) {
        skipWhitespace();
        if (source[pos] !== '"') fail('expected a string key');
        const keyAt = pos;
        const key = parseString();
        if (object.has(key)) {
          pos = keyAt;
          fail('duplicate key in object');
        }
        skipWhitespace();
        if (source[pos] !== ':') fail('expected :');
        pos++;
        object.set(key, parseValue(depth + 1));
        skipWhitespace();
        if (source[pos] === ',') pos++;
        else if (source[pos] === '}') {
          pos++;
          return object;
        } else fail('expected , or }');
      }
    }
    if (c === '"') return parseString();
    for (const [word, value] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (source.startsWith(word, pos)) {
        pos += word.length;
        return value;
      }
    }
    NUMBER.lastIndex = pos;
    const match = NUMBER.exec(source);
    if (match === null) return fail('unexpected character');
    pos += match[0].length;
    return { literal: match[0] };
  };

  const value = parseValue(0);
  skipWhitespace();
  if (pos !== source.length) fail('unexpected characters after the document');
  return value;
}

// ---------------------------------------------------------------------------------------------------------------
// Types.

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
// A type expression: a base name followed by array suffixes `[]` / `[n]` (n without leading zeros, n >= 1).
const TYPE_EXPRESSION = /^([A-Za-z_$][A-Za-z0-9_$]*)((?:\[(?:[1-9][0-9]*)?\])*)$/;
const INTEGER_TYPE = /^(u?)int([1-9][0-9]*)$/;
const BYTES_TYPE = /^bytes([1-9][0-9]*)$/;

type TypeMap = Map<string, Eip712Field[]>;

function isIdentifier(name: string): boolean {
  // `__proto__` is refused: as an object key it would set a prototype in naive consumers instead of a property.
  return name.length <= MAX_NAME_LENGTH && IDENTIFIER.test(name) && name !== '__proto__';
}

/** Bits of an EIP-712 integer type (uint8..uint256, int8..int256 in steps of 8), else undefined. */
function integerBits(type: string): { signed: boolean; bits: number } | undefined {
  const m = INTEGER_TYPE.exec(type);
  if (m === null) return undefined;
  const bits = Number(m[2]);
  return bits >= 8 && bits <= 256 && bits % 8 === 0 ? { signed: m[1] === '', bits } : undefined;
}

/** Length of a bytesN type (1..32), else undefined. */
function fixedBytesLength(type: string): number | undefined {
  const m = BYTES_TYPE.exec(type);
  if (m === null) return undefined;
  const n = Number(m[1]);
  return n >= 1 && n <= 32 ? n : undefined;
}

function isAtomic(type: string): boolean {
  return (
    type === 'address' ||
    type === 'bool' ||
    type === 'string' ||
    type === 'bytes' ||
    integerBits(type) !== undefined ||
    fixedBytesLength(type) !== undefined
  );
}

/** The base type of a type expression (the name without array suffixes), or undefined when it is not well formed. */
function baseType(type: string): string | undefined {
  if (type.length > 2 * MAX_NAME_LENGTH) return undefined;
  const m = TYPE_EXPRESSION.exec(type);
  if (m === null) return undefined;
  for (const dim of (m[2] ?? '').matchAll(/\[([0-9]*)\]/g)) {
    if (dim[1] !== '' && Number(dim[1]) > MAX_FIXED_ARRAY_LENGTH) return undefined;
  }
  return m[1];
}

/** Struct names may not look like a Solidity type: other implementations would read `uint7` or `bytes33` as one. */
function isStructName(name: string): boolean {
  return (
    isIdentifier(name) &&
    name !== 'address' &&
    name !== 'bool' &&
    name !== 'string' &&
    !/^(u?int|bytes)[0-9]*$/.test(name)
  );
}

function parseTypes(node: Json | undefined): TypeMap {
  if (!(node instanceof Map)) invalid('types', 'types must be an object');
  if (node.size > MAX_TYPES) invalid('types', `at most ${MAX_TYPES} types are accepted`);
  const types: TypeMap = new Map();
  for (const [name, definition] of node) {
    const at = `types.${name.slice(0, MAX_NAME_LENGTH)}`;
    if (name !== 'EIP712Domain' && !isStructName(name)) invalid(at, 'not a valid struct type name');
    if (!Array.isArray(definition)) invalid(at, 'a type must be a list of fields');
    if (definition.length > MAX_FIELDS) invalid(at, `at most ${MAX_FIELDS} fields per type are accepted`);
    const fields: Eip712Field[] = [];
    const names = new Set<string>();
    definition.forEach((entry, i) => {
      const fieldAt = `${at}[${i}]`;
      if (!(entry instanceof Map)) invalid(fieldAt, 'a field must be an object with name and type');
      for (const key of entry.keys()) {
        if (key !== 'name' && key !== 'type') invalid(`${fieldAt}.${key.slice(0, MAX_NAME_LENGTH)}`, 'unexpected key in a field');
      }
      const fieldName = entry.get('name');
      const fieldType = entry.get('type');
      if (typeof fieldName !== 'string' || !isIdentifier(fieldName)) invalid(`${fieldAt}.name`, 'not a valid field name');
      if (names.has(fieldName)) invalid(`${fieldAt}.name`, 'duplicate field name');
      names.add(fieldName);
      if (typeof fieldType !== 'string') invalid(`${fieldAt}.type`, 'field type must be a string');
      fields.push({ name: fieldName, type: fieldType });
    });
    types.set(name, fields);
  }

  // Every field type must be atomic or a struct of the document (EIP712Domain is not a member type).
  for (const [name, fields] of types) {
    fields.forEach((field, i) => {
      const base = baseType(field.type);
      if (base === undefined) invalid(`types.${name}[${i}].type`, 'not a valid EIP-712 type');
      if (!isAtomic(base) && (base === 'EIP712Domain' || !types.has(base))) {
        invalid(`types.${name}[${i}].type`, `unknown type ${base}`);
      }
    });
  }

  // A declared domain may only use the standard fields with their standard types: their meaning (which chain,
  // which contract) is what the policy reads.
  types.get('EIP712Domain')?.forEach((field, i) => {
    const expected = DOMAIN_FIELDS.get(field.name);
    if (expected === undefined) invalid(`types.EIP712Domain[${i}].name`, 'not a standard EIP712Domain field');
    if (field.type !== expected) invalid(`types.EIP712Domain[${i}].type`, `EIP712Domain.${field.name} must be ${expected}`);
  });

  // Cycles: a type that contains itself (directly or through others) is refused outright.
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string): void => {
    state.set(name, 'visiting');
    for (const field of types.get(name) ?? []) {
      const base = baseType(field.type) ?? '';
      if (!types.has(base)) continue;
      const seen = state.get(base);
      if (seen === 'visiting') invalid(`types.${base}`, 'types are cyclic');
      if (seen === undefined) visit(base);
    }
    state.set(name, 'done');
  };
  for (const name of types.keys()) if (!state.has(name)) visit(name);
  return types;
}

// ---------------------------------------------------------------------------------------------------------------
// Values.

const HEX = /^0x[0-9a-fA-F]*$/;
const DECIMAL = /^-?(?:0|[1-9][0-9]*)$/;
const HEX_NUMBER = /^0x[0-9a-fA-F]+$/;
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function normalizeInteger(type: string, value: Json, path: string): bigint {
  const spec = integerBits(type);
  if (spec === undefined) return invalid(path, `not an integer type: ${type}`);
  let n: bigint;
  if (typeof value === 'string') {
    // A decimal or 0x hex string. Hex is read as a non-negative magnitude: a two's-complement reading of a signed
    // type would differ only for values that are then out of range, so those are refused, never reinterpreted.
    if (DECIMAL.test(value) || HEX_NUMBER.test(value)) n = BigInt(value);
    else return invalid(path, `${type} must be a decimal or 0x hex integer`, { type });
  } else if (isJsonNumber(value)) {
    if (!DECIMAL.test(value.literal)) return invalid(path, `${type} must be an integer, without fraction or exponent`, { type });
    n = BigInt(value.literal);
  } else {
    return invalid(path, `${type} must be an integer`, { type });
  }
  const bits = BigInt(spec.bits);
  const [min, max] = spec.signed ? [-(2n ** (bits - 1n)), 2n ** (bits - 1n) - 1n] : [0n, 2n ** bits - 1n];
  if (n < min || n > max) invalid(path, `value does not fit ${type}`, { type });
  return n;
}

function normalizeAtomic(type: string, value: Json, path: string): Eip712Value {
  if (type === 'bool') {
    if (typeof value !== 'boolean') invalid(path, 'bool must be true or false', { type });
    return value;
  }
  if (type === 'string') {
    if (typeof value !== 'string') invalid(path, 'string must be a JSON string', { type });
    // A lone surrogate would be hashed as U+FFFD, i.e. not as shown.
    if (LONE_SURROGATE.test(value)) invalid(path, 'string is not valid Unicode', { type });
    return value;
  }
  if (type === 'address') {
    if (typeof value !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(value)) invalid(path, 'address must be 0x and 20 bytes of hex', { type });
    const lower = value.toLowerCase();
    const mixed = value.slice(2) !== lower.slice(2) && value.slice(2) !== value.slice(2).toUpperCase();
    // A mixed-case address is an EIP-55 checksum claim; a wrong one is a typo or a substitution.
    if (mixed && getAddress(lower) !== value) invalid(path, 'address has an invalid EIP-55 checksum', { type });
    return lower;
  }
  if (type === 'bytes') {
    if (typeof value !== 'string' || !HEX.test(value) || value.length % 2 !== 0) invalid(path, 'bytes must be 0x and whole bytes of hex', { type });
    return value.toLowerCase();
  }
  const size = fixedBytesLength(type);
  if (size !== undefined) {
    if (typeof value !== 'string' || !HEX.test(value) || value.length !== 2 + 2 * size) {
      invalid(path, `${type} must be 0x and exactly ${size} bytes of hex`, { type });
    }
    return value.toLowerCase();
  }
  return normalizeInteger(type, value, path);
}

function normalizeValue(types: TypeMap, type: string, value: Json, path: string): Eip712Value {
  if (type.endsWith(']')) {
    // The last suffix is the outermost array: `uint8[2][]` is a list of pairs.
    const open = type.lastIndexOf('[');
    const length = type.slice(open + 1, -1);
    if (!Array.isArray(value)) return invalid(path, `${type} must be an array`, { type });
    if (length !== '' && value.length !== Number(length)) invalid(path, `${type} must have exactly ${length} elements`, { type });
    const element = type.slice(0, open);
    return value.map((item, i) => normalizeValue(types, element, item, `${path}[${i}]`));
  }
  if (types.has(type)) return normalizeStruct(types, type, value, path);
  return normalizeAtomic(type, value, path);
}

function normalizeStruct(types: TypeMap, type: string, value: Json | undefined, path: string): Record<string, Eip712Value> {
  if (!(value instanceof Map)) return invalid(path, `${type} must be an object`, { type });
  const fields = types.get(type) ?? [];
  const out: Record<string, Eip712Value> = {};
  for (const field of fields) {
    const item = value.get(field.name);
    if (item === undefined) invalid(`${path}.${field.name}`, `missing field of ${type}`, { type: field.type });
    out[field.name] = normalizeValue(types, field.type, item, `${path}.${field.name}`);
  }
  // Hashing ignores undeclared fields, so a reader could be shown data that is not signed: refuse them.
  for (const key of value.keys()) {
    if (!fields.some((f) => f.name === key)) invalid(`${path}.${key.slice(0, MAX_NAME_LENGTH)}`, `not a field of ${type}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Known types.

const SHAPES = {
  eip2612: 'address owner,address spender,uint256 value,uint256 nonce,uint256 deadline',
  dai: 'address holder,address spender,uint256 nonce,uint256 expiry,bool allowed',
  permitDetails: 'address token,uint160 amount,uint48 expiration,uint48 nonce',
  tokenPermissions: 'address token,uint256 amount',
  permitSingle: 'PermitDetails details,address spender,uint256 sigDeadline',
  permitBatch: 'PermitDetails[] details,address spender,uint256 sigDeadline',
  transferFrom: 'TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline',
  batchTransferFrom: 'TokenPermissions[] permitted,address spender,uint256 nonce,uint256 deadline',
} as const;

function shape(fields: readonly Eip712Field[] | undefined): string | undefined {
  return fields?.map((f) => `${f.type} ${f.name}`).join(',');
}

/** A deadline as an expiry: values at or above 2^64 are so far away that they mean "never" (undefined). */
function expiryOf(seconds: bigint): { expiry?: bigint } {
  return seconds >= NO_EXPIRY ? {} : { expiry: seconds };
}

type Struct = Readonly<Record<string, Eip712Value>>;

/**
 * The grants of a known permit type, or undefined when the typed data is not one the server understands. Values were
 * validated against the exact structure matched here, so the casts below cannot be wrong.
 */
function knownGrants(types: TypeMap, primaryType: string, domain: Struct, message: Struct): Grant[] | undefined {
  const fields = types.get(primaryType) ?? [];
  const primary = shape(fields);
  const verifyingContract = domain.verifyingContract as string | undefined;
  // The token of an EIP-2612 / DAI permit is the contract that verifies it; without one the bytes do not say.
  const permitAsset = verifyingContract === undefined ? 'unknown' : `erc20:${verifyingContract}`;

  if (primaryType === 'Permit' && primary === SHAPES.eip2612) {
    const value = message.value as bigint;
    return [
      {
        kind: 'permit',
        asset: permitAsset,
        spender: message.spender as string,
        amount: value,
        unlimited: value >= UNLIMITED_UINT256,
        // No expiry: `deadline` only limits when the signature can be submitted; the allowance it sets lasts until
        // it is spent or changed, so a lifetime rule must never take the deadline for the allowance's end.
        source: 'EIP-2612 Permit',
      },
    ];
  }
  if (primaryType === 'Permit' && primary === SHAPES.dai) {
    // DAI: `allowed` grants type(uint256).max or resets to 0. Its `expiry` bounds the signature, not the allowance.
    const allowed = message.allowed as boolean;
    return [
      {
        kind: 'permit',
        asset: permitAsset,
        spender: message.spender as string,
        amount: allowed ? null : 0n,
        unlimited: allowed,
        ...(allowed ? {} : { revoke: true }),
        source: 'DAI Permit',
      },
    ];
  }

  // Permit2: recognized by structure; a domain other than the canonical deployment is still decoded (it is a grant
  // either way) and said so in `source`.
  const canonical = domain.name === 'Permit2' && verifyingContract === PERMIT2_ADDRESS;
  const note = canonical
    ? ''
    : ` (not the canonical Permit2 domain: name ${JSON.stringify(domain.name ?? null)}, verifyingContract ${verifyingContract ?? 'none'})`;
  const spender = message.spender as string;

  const allowanceGrants = (details: readonly Struct[], source: (i: number) => string): Grant[] =>
    details.map((d, i) => {
      const amount = d.amount as bigint;
      const expiration = d.expiration as bigint;
      // Permit2 AllowanceTransfer: the allowance lasts until `expiration`, even past sigDeadline (which only bounds
      // when the permit can be submitted); expiration 0 means block.timestamp, i.e. usable only in the block that
      // submits it, which is at the latest sigDeadline.
      const expiry = expiration !== 0n ? { expiry: expiration } : expiryOf(message.sigDeadline as bigint);
      return {
        kind: 'permit2',
        asset: `erc20:${d.token as string}`,
        spender,
        amount,
        unlimited: amount === MAX_UINT160,
        ...expiry,
        source: source(i) + note,
      };
    });
  const transferGrants = (permitted: readonly Struct[], source: (i: number) => string): Grant[] =>
    permitted.map((p, i) => {
      // SignatureTransfer: a one-shot transfer of up to `amount` by `spender` before `deadline`.
      const amount = p.amount as bigint;
      return {
        kind: 'permit2',
        asset: `erc20:${p.token as string}`,
        spender,
        amount,
        unlimited: amount >= UNLIMITED_UINT256,
        ...expiryOf(message.deadline as bigint),
        source: source(i) + note,
      };
    });

  if (primaryType === 'PermitSingle' && primary === SHAPES.permitSingle && shape(types.get('PermitDetails')) === SHAPES.permitDetails) {
    return allowanceGrants([message.details as Struct], () => 'Permit2 PermitSingle');
  }
  if (primaryType === 'PermitBatch' && primary === SHAPES.permitBatch && shape(types.get('PermitDetails')) === SHAPES.permitDetails) {
    return allowanceGrants(message.details as readonly Struct[], (i) => `Permit2 PermitBatch details[${i}]`);
  }
  if (shape(types.get('TokenPermissions')) !== SHAPES.tokenPermissions) return undefined;
  if (primaryType === 'PermitTransferFrom' && primary === SHAPES.transferFrom) {
    return transferGrants([message.permitted as Struct], () => 'Permit2 PermitTransferFrom');
  }
  if (primaryType === 'PermitBatchTransferFrom' && primary === SHAPES.batchTransferFrom) {
    return transferGrants(message.permitted as readonly Struct[], (i) => `Permit2 PermitBatchTransferFrom permitted[${i}]`);
  }
  // Witness variants: the four fields of the plain message, then exactly one witness of any type (Permit2 appends the
  // caller's witness type string to a fixed stub, so only the fifth field is free).
  const witness = fields[4];
  if (fields.length === 5 && witness !== undefined) {
    const first = shape(fields.slice(0, 4));
    const label = ` (witness ${witness.type} ${witness.name})`;
    if (primaryType === 'PermitWitnessTransferFrom' && first === SHAPES.transferFrom) {
      return transferGrants([message.permitted as Struct], () => `Permit2 PermitWitnessTransferFrom${label}`);
    }
    if (primaryType === 'PermitBatchWitnessTransferFrom' && first === SHAPES.batchTransferFrom) {
      return transferGrants(message.permitted as readonly Struct[], (i) => `Permit2 PermitBatchWitnessTransferFrom permitted[${i}]${label}`);
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * Decodes an `eth_signTypedData_v4` JSON document: an object with exactly `types`, `primaryType`, `domain` and
 * `message` (`types.EIP712Domain` optional: when absent it is inferred from the domain's fields in the canonical
 * order, as wallets do). Returns the server-computed digest, the effects (grants for known permits, else the flag
 * UNKNOWN_TYPED_DATA) and the validated document.
 *
 * Decisions: types the primary type does not reach are allowed (they do not change the digest) but must be valid;
 * cyclic types are refused even though EIP-712 could hash some of them; `primaryType: "EIP712Domain"` is refused
 * (it would sign the domain alone and leave `message` unsigned). Throws only WaiaasError.
 */
export function decodeEip712(json: string): DecodedEip712 {
  if (typeof json !== 'string') invalid('json', 'typed data must be a JSON string');
  // UTF-16 length never exceeds UTF-8 length, so the cheap check first, then the exact one.
  if (json.length > EIP712_MAX_JSON_BYTES || Buffer.byteLength(json, 'utf8') > EIP712_MAX_JSON_BYTES) {
    invalid('json', 'typed data is larger than 64 KiB', { limit: String(EIP712_MAX_JSON_BYTES) });
  }
  const root = parseJson(json);
  if (!(root instanceof Map)) invalid('json', 'typed data must be a JSON object');
  for (const key of ['types', 'primaryType', 'domain', 'message']) {
    if (!root.has(key)) invalid(key, `missing ${key}`);
  }
  for (const key of root.keys()) {
    if (key !== 'types' && key !== 'primaryType' && key !== 'domain' && key !== 'message') {
      invalid(key.slice(0, MAX_NAME_LENGTH), 'unexpected top-level key');
    }
  }

  const types = parseTypes(root.get('types'));

  const primaryType = root.get('primaryType');
  if (typeof primaryType !== 'string') return invalid('primaryType', 'primaryType must be a string');
  if (primaryType === 'EIP712Domain') invalid('primaryType', 'primaryType EIP712Domain signs no message');
  if (!types.has(primaryType)) invalid('primaryType', 'primaryType is not a type of the document');

  const domainNode = root.get('domain');
  if (!(domainNode instanceof Map)) return invalid('domain', 'domain must be an object');
  if (!types.has('EIP712Domain')) {
    for (const key of domainNode.keys()) {
      if (!DOMAIN_FIELDS.has(key)) invalid(`domain.${key.slice(0, MAX_NAME_LENGTH)}`, 'not a standard EIP712Domain field');
    }
    types.set(
      'EIP712Domain',
      [...DOMAIN_FIELDS].filter(([name]) => domainNode.has(name)).map(([name, type]) => ({ name, type })),
    );
  }
  const domain = normalizeStruct(types, 'EIP712Domain', domainNode, 'domain');
  const message = normalizeStruct(types, primaryType, root.get('message'), 'message');

  const typedData: Eip712TypedData = { types: Object.fromEntries(types), primaryType, domain, message };
  let digest: Hex;
  try {
    digest = hashTypedData(typedData as unknown as Parameters<typeof hashTypedData>[0]);
  } catch (cause) {
    // Unreachable after the validation above; kept so that a library disagreement can never escape as another error.
    return invalid('typedData', 'typed data does not hash', {}, cause);
  }

  const chainId = domain.chainId;
  const effects = emptyEffects('evm', typeof chainId === 'bigint' ? chainId : undefined);
  effects.message = {
    kind: 'eip712',
    domain: Object.fromEntries(Object.entries(domain).map(([k, v]) => [k, String(v)])),
    primaryType,
  };
  const grants = knownGrants(types, primaryType, domain, message);
  if (grants === undefined) effects.flags.push('UNKNOWN_TYPED_DATA');
  else effects.grants.push(...grants);
  return { digest: hexToBytes(digest), effects, typedData };
}
