// Random ids for clientMessageId, threadId and requestId prefixes (nanoid: crypto.getRandomValues,
// in browsers and Node; its alphabet fits the protocol's ids).
import { nanoid } from 'nanoid';

export function randomId(size = 21): string {
  return nanoid(size);
}
