/**
 * Explicit wiring: a service built without one of its dependencies fails at construction, not on the first request
 * that happens to need it (in the manner of Dirk's parseAndCheckParameters).
 */

/** Throws if any of `names` is missing from `deps`. */
export function requireDeps<T extends object>(service: string, deps: T, names: readonly (keyof T & string)[]): void {
  const missing = names.filter((n) => deps[n] === undefined || deps[n] === null);
  if (missing.length > 0) throw new Error(`${service}: missing dependencies: ${missing.join(', ')}`);
}
