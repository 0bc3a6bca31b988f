/**
 * A minimal Reflect metadata shim. @peculiar/x509 2.x pulls in tsyringe, which throws at import time unless
 * `Reflect.getMetadata` exists (it normally comes from the reflect-metadata package, which is not a dependency here).
 * tsyringe only calls getMetadata / getOwnMetadata / defineMetadata, and @peculiar/x509 emits no design-type
 * metadata, so a WeakMap store is enough. Import this module before `@peculiar/x509`; it does nothing when a real
 * polyfill is already installed.
 */

type MetadataStore = WeakMap<object, Map<string | symbol | undefined, Map<unknown, unknown>>>;

/** Reflect with the three metadata functions tsyringe uses. */
interface ReflectWithMetadata {
  getMetadata?: (key: unknown, target: object, property?: string | symbol) => unknown;
  getOwnMetadata?: (key: unknown, target: object, property?: string | symbol) => unknown;
  defineMetadata?: (key: unknown, value: unknown, target: object, property?: string | symbol) => void;
}

const R = Reflect as unknown as ReflectWithMetadata;

if (typeof R.getMetadata !== 'function') {
  const store: MetadataStore = new WeakMap();
  const own = (target: object, property: string | symbol | undefined, create: boolean): Map<unknown, unknown> | undefined => {
    let byProp = store.get(target);
    if (!byProp) {
      if (!create) return undefined;
      byProp = new Map();
      store.set(target, byProp);
    }
    let m = byProp.get(property);
    if (!m && create) {
      m = new Map();
      byProp.set(property, m);
    }
    return m;
  };
  R.defineMetadata = (key, value, target, property) => {
    own(target, property, true)?.set(key, value);
  };
  R.getOwnMetadata = (key, target, property) => own(target, property, false)?.get(key);
  R.getMetadata = (key, target, property) => {
    // Walk the prototype chain, as reflect-metadata does.
    for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t) as object | null) {
      const m = own(t, property, false);
      if (m?.has(key)) return m.get(key);
    }
    return undefined;
  };
}

export {};
