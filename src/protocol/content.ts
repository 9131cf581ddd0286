// Accumulates typed deltas into a message's text and ordered parts. Used by the server (the
// in-flight snapshot and the stored message), the client SDK's thread view and the library, so
// all three agree on what a stream of deltas means.
import type { DeltaContent, Part } from './frames.ts';

export class ContentAccumulator {
  text = '';
  readonly parts: Part[] = [];
  /** Open tool calls by id, pointing at their part so argument fragments append in place. */
  private readonly toolCalls = new Map<string, Extract<Part, { type: 'tool-call' }>>();

  apply(delta: DeltaContent): void {
    if (delta.text) {
      this.text += delta.text;
      this.appendRun('text', delta.text);
    }
    if (delta.reasoning) this.appendRun('reasoning', delta.reasoning);
    if (delta.refusal) this.appendRun('refusal', delta.refusal);
    if (delta.toolCall) {
      const { toolCallId, name, arguments: fragment } = delta.toolCall;
      let part = this.toolCalls.get(toolCallId);
      if (!part) {
        part = { type: 'tool-call', toolCallId, name: name ?? '', arguments: '' };
        this.toolCalls.set(toolCallId, part);
        this.parts.push(part);
      }
      if (name && !part.name) part.name = name;
      if (fragment) part.arguments += fragment;
    }
    if (delta.toolResult) this.parts.push({ type: 'tool-result', ...delta.toolResult });
    if (delta.annotation) this.parts.push({ type: 'annotation', annotation: delta.annotation });
    if (delta.file) this.parts.push({ type: 'file', file: delta.file });
  }

  /** Restores from a snapshot (text and parts so far). */
  reset(text: string, parts: readonly Part[] | undefined): void {
    this.text = text;
    this.parts.length = 0;
    this.toolCalls.clear();
    for (const part of parts ?? (text ? [{ type: 'text' as const, text }] : [])) {
      const copy = { ...part };
      this.parts.push(copy);
      if (copy.type === 'tool-call') this.toolCalls.set(copy.toolCallId, copy);
    }
  }

  /** A deep-enough copy of the parts, safe to hand out while accumulation continues. */
  snapshotParts(): Part[] {
    return this.parts.map((part) => ({ ...part }));
  }

  private appendRun(type: 'text' | 'reasoning' | 'refusal', text: string): void {
    const last = this.parts.at(-1);
    if (last && last.type === type) last.text += text;
    else this.parts.push({ type, text });
  }
}

/** True when a delta carries no content at all. */
export function isEmptyDelta(delta: DeltaContent): boolean {
  return (
    !delta.text &&
    !delta.reasoning &&
    !delta.refusal &&
    !delta.toolCall &&
    !delta.toolResult &&
    !delta.annotation &&
    !delta.file
  );
}
