// The protocol's frame types as the SDK uses them (types only: nothing of the server's schemas is
// bundled into the client).
import type { ServerFrame } from '../protocol/frames.ts';

export type { Message, Part, ServerFrame, ThreadEvent, Usage } from '../protocol/frames.ts';
export type ServerFrameType = ServerFrame['type'];
export type FrameOf<T extends ServerFrameType> = Extract<ServerFrame, { type: T }>;
export type Welcome = FrameOf<'welcome'>;
export type RunEnd = FrameOf<'run-end'>;
export type HistoryPage = FrameOf<'history-page'>;

/** The types of the events a thread's subscribers get (protocol.md, Thread events). */
export const threadEventTypes: ReadonlySet<string> = new Set([
  'message',
  'run-start',
  'message-start',
  'message-delta',
  'message-end',
  'run-end',
  'run-queued',
  'thread-deleted',
]);
