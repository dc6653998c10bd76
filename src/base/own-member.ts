/**
 * Setting an object's member by a name that came from outside. Assigning `__proto__` (a name JSON.parse
 * makes an own property) would set the object's prototype instead and the member would be lost; it is
 * defined as an ordinary own, enumerable member instead, as JSON.parse and Object.fromEntries do.
 */
export function setOwnMember(target: Record<string, unknown>, name: string, value: unknown): void {
  if (name === '__proto__') Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
  else target[name] = value;
}
