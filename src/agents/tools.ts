// Tools an agent may call: a name, a description, a zod schema for the arguments and an async
// function. `defineTool` derives the JSON Schema the model sees from the zod schema (zod 4's
// `z.toJSONSchema`); `invoke` runs one call under limits and never lets a tool crash the run:
// bad JSON, invalid arguments, oversized arguments, a thrown error or a timeout all become an
// `isError` result the model can read and react to. Only the caller's abort is thrown.
import { z } from 'zod';
import type { ToolSpec } from './model-client.ts';

export interface ToolContext {
  /** Aborts when the turn is cancelled or the tool's timeout elapses. */
  signal: AbortSignal;
}

/** The result of one tool call as the model will read it. */
export interface ToolOutcome {
  output: string;
  isError: boolean;
}

export interface Tool extends ToolSpec {
  readonly timeoutMs: number;
  /**
   * Parses and validates the model's raw JSON arguments and runs the tool. Resolves with an
   * `isError` outcome on every tool-side failure; rejects only with `context.signal.reason`.
   */
  invoke(argumentsJson: string, context: ToolContext): Promise<ToolOutcome>;
}

export interface ToolDefinition<Schema extends z.ZodType> {
  /** What the model calls it: letters, digits, `_` and `-`, at most 64 characters. */
  name: string;
  description: string;
  /** The arguments object. Descriptions (`.describe()`) reach the model through the JSON Schema. */
  parameters: Schema;
  /** The tool's work. A string result is passed as is; anything else as JSON. */
  execute: (args: z.output<Schema>, context: ToolContext) => Promise<unknown> | unknown;
  /** How long one call may run. @default 30000 */
  timeoutMs?: number;
  /** Largest accepted arguments JSON, in bytes. @default 65536 */
  maxArgumentBytes?: number;
  /** Output beyond this many bytes is cut and marked. @default 16384 */
  maxOutputBytes?: number;
}

const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** Builds a Tool. Throws (a programming error) on a bad name or a schema that is not an object. */
export function defineTool<Schema extends z.ZodType>(definition: ToolDefinition<Schema>): Tool {
  if (!TOOL_NAME.test(definition.name)) {
    throw new Error(`tool name "${definition.name}" must match ${TOOL_NAME.source}`);
  }
  const { $schema: _dialect, ...parameters } = z.toJSONSchema(definition.parameters, { io: 'input' });
  if (parameters.type !== 'object') {
    throw new Error(`tool "${definition.name}": parameters must be a zod object schema`);
  }
  const timeoutMs = definition.timeoutMs ?? 30_000;
  const maxArgumentBytes = definition.maxArgumentBytes ?? 65_536;
  const maxOutputBytes = definition.maxOutputBytes ?? 16_384;

  return {
    name: definition.name,
    description: definition.description,
    parameters,
    timeoutMs,
    async invoke(argumentsJson: string, context: ToolContext): Promise<ToolOutcome> {
      context.signal.throwIfAborted();
      const size = Buffer.byteLength(argumentsJson);
      if (size > maxArgumentBytes) {
        return failed(`arguments too large: ${size} bytes (limit ${maxArgumentBytes})`);
      }
      let raw: unknown;
      try {
        raw = argumentsJson.trim() === '' ? {} : JSON.parse(argumentsJson);
      } catch {
        return failed('arguments are not valid JSON');
      }
      const parsed = definition.parameters.safeParse(raw);
      if (!parsed.success) return failed(`invalid arguments: ${z.prettifyError(parsed.error)}`);

      const controller = new AbortController();
      const onAbort = () => controller.abort(context.signal.reason);
      context.signal.addEventListener('abort', onAbort, { once: true });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort(new Error(`tool "${definition.name}" timed out`));
      }, timeoutMs);
      try {
        // A tool that ignores its signal is not waited for: the race settles on abort.
        const value = await raceAbort(
          Promise.resolve().then(() => definition.execute(parsed.data, { signal: controller.signal })),
          controller.signal,
        );
        return { output: truncate(serialize(value), maxOutputBytes), isError: false };
      } catch (error) {
        if (context.signal.aborted) throw context.signal.reason;
        if (timedOut) return failed(`timed out after ${timeoutMs} ms`);
        return failed(truncate(errorMessage(error), maxOutputBytes));
      } finally {
        clearTimeout(timer);
        context.signal.removeEventListener('abort', onAbort);
      }
    },
  };
}

/** The plain spec a model client needs (no functions). */
export function toolSpec(tool: ToolSpec): ToolSpec {
  return { name: tool.name, description: tool.description, parameters: tool.parameters };
}

function failed(message: string): ToolOutcome {
  return { output: `error: ${message}`, isError: true };
}

function serialize(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return '';
  return JSON.stringify(value);
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return typeof error === 'string' ? error : 'the tool failed';
}

/** Cuts `text` to at most `maxBytes` UTF-8 bytes (on a character boundary) and says so. */
export function truncate(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= maxBytes) return text;
  let kept = bytes.subarray(0, maxBytes).toString('utf8');
  if (kept.endsWith('\uFFFD')) kept = kept.slice(0, -1);
  return `${kept}\n…[truncated: ${bytes.length} bytes, first ${maxBytes} shown]`;
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(errorMessage(error)));
      },
    );
  });
}
