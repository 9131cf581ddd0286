// The package's `chorus/client` entry: the Chorus client SDK for browsers and Node 22+ (on the
// global WebSocket; no Node built-ins). See docs/client.md.
export { ChorusClient, ConnectionState } from './chorus-client.ts';
export type { ChorusClientOptions, ClientEvents, ConnectionInfo, TokenProvider } from './chorus-client.ts';
export { ChorusThread, SubscriptionStatus } from './thread.ts';
export type { SubscribedInfo, ThreadEvents, ThreadOptions } from './thread.ts';
export { ItemStatus } from './thread-item.ts';
export type { ThreadItem } from './thread-item.ts';
export { PostState } from './outgoing-post.ts';
export type { OutgoingPost, PostResult } from './outgoing-post.ts';
export { ChorusError, ClientErrorCode } from './errors.ts';
export { memoryCursorStore, storageCursorStore } from './cursor-store.ts';
export type { CursorStore, KeyValueStorage } from './cursor-store.ts';
export { backoffDelay } from './backoff.ts';
export type { BackoffOptions } from './backoff.ts';
export { CloseAdvice, closeAdvice } from './close-advice.ts';
export type { Listener } from './emitter.ts';
export type { WebSocketClass } from './web-socket.ts';
export { ContentAccumulator } from '../protocol/content.ts';
export {
  CloseCode,
  ErrorCode,
  MessageStatus,
  RunEndReason,
  PROTOCOL_VERSION,
  SUBPROTOCOL,
} from '../protocol/codes.ts';
export type {
  FrameOf,
  HistoryPage,
  Message,
  Part,
  RunEnd,
  ServerFrame,
  ThreadEvent,
  Usage,
  Welcome,
} from './frames.ts';
