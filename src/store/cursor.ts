/** A history cursor: `<epoch>.<offset>`, the message's place in its thread's current epoch. */
export interface CursorPosition {
  epoch: string;
  offset: number;
}

export function formatCursor(epoch: string, offset: number): string {
  return `${epoch}.${offset}`;
}

/** `<epoch>.<offset>` → its parts, or null when the string is not a cursor of this format. */
export function parseCursor(cursor: string): CursorPosition | null {
  const dot = cursor.lastIndexOf('.');
  if (dot <= 0) return null;
  const digits = cursor.slice(dot + 1);
  if (!/^[1-9][0-9]{0,14}$/.test(digits)) return null;
  return { epoch: cursor.slice(0, dot), offset: Number(digits) };
}
