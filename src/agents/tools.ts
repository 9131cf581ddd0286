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

/** The bounds every tool call runs under; local tools and MCP tools share the defaults. */
export interface ToolLimits {
  /** How long one call may run. @default 30000 */
  timeoutMs: number;
  /** Largest accepted arguments JSON, in bytes. @default 65536 */
  maxArgumentBytes: number;
  /** Output beyond this many bytes is cut and marked. @default 16384 */
  maxOutputBytes: number;
}

export const DEFAULT_TOOL_LIMITS: Readonly<ToolLimits> = {
  timeoutMs: 30_000,
  maxArgumentBytes: 65_536,
  maxOutputBytes: 16_384,
};

export interface ToolDefinition<Schema extends z.ZodType> extends Partial<ToolLimits> {
  /** What the model calls it: letters, digits, `_` and `-`, at most 64 characters. */
  name: string;
  description: string;
  /** The arguments object. Descriptions (`.describe()`) reach the model through the JSON Schema. */
  parameters: Schema;
  /** The tool's work. A string result is passed as is; anything else as JSON. */
  execute: (args: z.output<Schema>, context: ToolContext) => Promise<unknown> | unknown;
}

export const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** Builds a Tool. Throws (a programming error) on a bad name or a schema that is not an object. */
export function defineTool<Schema extends z.ZodType>(definition: ToolDefinition<Schema>): Tool {
  if (!TOOL_NAME.test(definition.name)) {
    throw new Error(`tool name "${definition.name}" must match ${TOOL_NAME.source}`);
  }
  const { $schema: _dialect, ...parameters } = z.toJSONSchema(definition.parameters, { io: 'input' });
  if (parameters.type !== 'object') {
    throw new Error(`tool "${definition.name}": parameters must be a zod object schema`);
  }
  const limits = toolLimits(definition);
  const parse = (raw: unknown): ParsedArguments<z.output<Schema>> => {
    const parsed = definition.parameters.safeParse(raw);
    return parsed.success
      ? { ok: true, value: parsed.data }
      : { ok: false, message: `invalid arguments: ${z.prettifyError(parsed.error)}` };
  };
  return {
    name: definition.name,
    description: definition.description,
    parameters,
    timeoutMs: limits.timeoutMs,
    invoke: (argumentsJson, context) =>
      invokeWithLimits({
        name: definition.name,
        limits,
        argumentsJson,
        context,
        parse,
        execute: definition.execute,
      }),
  };
}

/** `limits` with the defaults filled in. */
export function toolLimits(limits: Partial<ToolLimits> = {}): ToolLimits {
  return {
    timeoutMs: limits.timeoutMs ?? DEFAULT_TOOL_LIMITS.timeoutMs,
    maxArgumentBytes: limits.maxArgumentBytes ?? DEFAULT_TOOL_LIMITS.maxArgumentBytes,
    maxOutputBytes: limits.maxOutputBytes ?? DEFAULT_TOOL_LIMITS.maxOutputBytes,
  };
}

export type ParsedArguments<Args> = { ok: true; value: Args } | { ok: false; message: string };

export interface InvokeWithLimitsOptions<Args> {
  /** For the timeout's message. */
  name: string;
  limits: ToolLimits;
  argumentsJson: string;
  context: ToolContext;
  /** Checks the parsed JSON (`{}` for empty arguments). */
  parse: (raw: unknown) => ParsedArguments<Args>;
  /** The work; a string result is passed as is, anything else as JSON; a throw is an error result. */
  execute: (args: Args, context: ToolContext) => Promise<unknown> | unknown;
}

/**
 * One call under the limits: oversized or bad JSON arguments, a failed parse, a thrown error and
 * a timeout all become an `isError` outcome; output is cut to `maxOutputBytes`. Rejects only
 * with `context.signal.reason` (the caller's abort).
 */
export async function invokeWithLimits<Args>(options: InvokeWithLimitsOptions<Args>): Promise<ToolOutcome> {
  const { name, limits, argumentsJson, context } = options;
  context.signal.throwIfAborted();
  const size = Buffer.byteLength(argumentsJson);
  if (size > limits.maxArgumentBytes) {
    return failed(`arguments too large: ${size} bytes (limit ${limits.maxArgumentBytes})`);
  }
  let raw: unknown;
  try {
    raw = argumentsJson.trim() === '' ? {} : JSON.parse(argumentsJson);
  } catch {
    return failed('arguments are not valid JSON');
  }
  const parsed = options.parse(raw);
  if (!parsed.ok) return failed(parsed.message);

  const controller = new AbortController();
  const onAbort = () => controller.abort(context.signal.reason);
  context.signal.addEventListener('abort', onAbort, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error(`tool "${name}" timed out`));
  }, limits.timeoutMs);
  try {
    // A tool that ignores its signal is not waited for: the race settles on abort.
    const value = await raceAbort(
      Promise.resolve().then(() => options.execute(parsed.value, { signal: controller.signal })),
      controller.signal,
    );
    return { output: truncate(serialize(value), limits.maxOutputBytes), isError: false };
  } catch (error) {
    if (context.signal.aborted) throw context.signal.reason;
    if (timedOut) return failed(`timed out after ${limits.timeoutMs} ms`);
    return failed(truncate(errorMessage(error), limits.maxOutputBytes));
  } finally {
    clearTimeout(timer);
    context.signal.removeEventListener('abort', onAbort);
  }
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

/** Settles with `promise`, or rejects with `signal.reason` as soon as `signal` aborts. */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
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
