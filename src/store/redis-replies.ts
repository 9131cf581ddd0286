// Decoding of Lua script replies: nested arrays of strings and integers (RESP2 shapes).

export function asArray(value: unknown): unknown[] {
  if (!Array.isArray(value))
    throw new TypeError(`unexpected Redis reply: ${typeof value} instead of an array`);
  return value;
}

export function asString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString();
  if (typeof value === 'number') return String(value);
  throw new TypeError(`unexpected Redis reply: ${typeof value} instead of a string`);
}

export function asInteger(value: unknown): number {
  const number = typeof value === 'string' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number)) {
    throw new TypeError(`unexpected Redis reply: ${String(value)} instead of an integer`);
  }
  return number;
}

/** [field, value, field, value, …] → { field: value }. */
export function pairs(flat: unknown[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (let index = 0; index + 1 < flat.length; index += 2) {
    result[asString(flat[index])] = asString(flat[index + 1]);
  }
  return result;
}
