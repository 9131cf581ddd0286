// A live event as the hub hands it to every local viewer: decoded once per instance (its type),
// its payload bytes made once, and its whole WebSocket frame (header and payload) built once on
// first use, so that fan-out to N sockets is N writes of the same bytes — no per-socket framing,
// copying or type parsing.
import { envelopeType, type LiveEnvelope } from '../store/store.ts';
import type { ThreadEvent } from '../protocol/frames.ts';

export class LiveFrame {
  readonly envelope: LiveEnvelope;
  readonly type: ThreadEvent['type'];
  /** The event's JSON, UTF-8. */
  readonly payload: Buffer;
  private wire: Buffer | undefined;

  constructor(envelope: LiveEnvelope) {
    this.envelope = envelope;
    this.type = envelopeType(envelope);
    this.payload = Buffer.from(envelope.frame);
  }

  /** The unmasked, final WebSocket text frame carrying the payload (RFC 6455 §5.2). */
  wireBytes(): Buffer {
    this.wire ??= textFrame(this.payload);
    return this.wire;
  }
}

/** A server-to-client text frame: FIN, opcode 1, no mask, the payload's length in 7, 16 or 64 bits. */
export function textFrame(payload: Buffer): Buffer {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81;
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  payload.copy(frame, headerLength);
  return frame;
}
