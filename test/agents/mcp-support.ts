// Helpers for the MCP tests: the fixture servers' definitions, fake-model scripts that call a
// tool by name, a logger whose lines the test can read, and a bounded wait for a condition.
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type { McpServerSpec } from '../../src/agents/mcp/mcp-server-spec.ts';
import type { FakeScript } from '../support/fake-openai.ts';

export const STDIO_SERVER = fileURLToPath(new URL('../fixtures/mcp/stdio-server.ts', import.meta.url));

/** The stdio fixture server, started with the Node that runs the tests. */
export function stdioServerSpec(overrides: Partial<McpServerSpec> = {}): McpServerSpec {
  return { command: process.execPath, args: [STDIO_SERVER], ...overrides };
}

/**
 * The `chat-tool-call` fixture calling `name` with `argumentsJson` (spread over its three
 * argument fragments) under the call id `callId`.
 */
export function toolCallScript(name: string, argumentsJson: string, callId = `call_${name}`): FakeScript {
  const third = Math.ceil(argumentsJson.length / 3);
  const fragments = [0, 1, 2].map((index) => argumentsJson.slice(index * third, (index + 1) * third));
  let fragment = 0;
  return {
    fixture: 'chat-tool-call',
    transform: (event) => {
      const choices = event['choices'] as
        | { delta?: { tool_calls?: { id?: string; function?: { name?: string; arguments?: string } }[] } }[]
        | undefined;
      const call = choices?.[0]?.delta?.tool_calls?.[0];
      if (call?.id !== undefined) call.id = callId;
      if (call?.function?.name !== undefined) call.function.name = name;
      else if (call?.function?.arguments !== undefined) {
        call.function.arguments = fragments[fragment] ?? '';
        fragment += 1;
      }
      return event;
    },
  };
}

/** A logger at `trace` whose JSON lines are kept in `lines`. */
export function recordingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8'));
      callback();
    },
  });
  return { logger: pino({ level: 'trace' }, stream), lines };
}

/** Resolves once `check()` is true; rejects naming `what` after `timeoutMs`. Checks every 10 ms. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
