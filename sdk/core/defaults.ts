/**
 * Spreads options over frozen defaults, ignoring options explicitly set to `undefined`
 * (a plain spread would let `{ window: undefined }` wipe out the default).
 */
export function withDefaults<D extends object, O extends object>(defaults: D, options: O): D & O {
  const set = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  return { ...defaults, ...set } as D & O;
}
