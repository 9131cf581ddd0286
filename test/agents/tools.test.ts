// defineTool: JSON Schema from zod, validation, limits, and failures captured as results.
import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { defineTool, truncate } from '../../src/agents/tools.ts';
import { within } from './support.ts';

const signal = () => new AbortController().signal;

const weather = defineTool({
  name: 'get_weather',
  description: 'The weather now in a city',
  parameters: z.object({ city: z.string().describe('city name'), unit: z.enum(['c', 'f']).default('c') }),
  execute: ({ city, unit }) => ({ city, unit, sky: 'sunny' }),
});

describe('defineTool', () => {
  test('derives the JSON Schema of the arguments (input side, without $schema)', () => {
    expect(weather.parameters).toEqual({
      type: 'object',
      properties: {
        city: { type: 'string', description: 'city name' },
        unit: { type: 'string', enum: ['c', 'f'], default: 'c' },
      },
      required: ['city'],
    });
  });

  test('rejects a bad name and a non-object schema', () => {
    expect(() =>
      defineTool({ name: 'no spaces', description: '', parameters: z.object({}), execute: () => 1 }),
    ).toThrow(/must match/);
    expect(() =>
      defineTool({ name: 'n', description: '', parameters: z.string(), execute: () => 1 }),
    ).toThrow(/object/);
  });

  test('valid arguments run the tool; defaults apply; objects come back as JSON', async () => {
    expect(await weather.invoke('{"city":"Paris"}', { signal: signal() })).toEqual({
      output: '{"city":"Paris","unit":"c","sky":"sunny"}',
      isError: false,
    });
  });

  test('invalid JSON and invalid arguments are error results', async () => {
    expect(await weather.invoke('{"city": ', { signal: signal() })).toEqual({
      output: 'error: arguments are not valid JSON',
      isError: true,
    });
    const invalid = await weather.invoke('{"city": 42}', { signal: signal() });
    expect(invalid.isError).toBe(true);
    expect(invalid.output).toMatch(/^error: invalid arguments: .*expected string/s);
  });

  test('oversized arguments are refused before parsing', async () => {
    const small = defineTool({ ...definitionOf('echo'), maxArgumentBytes: 16 });
    const result = await small.invoke(JSON.stringify({ text: 'x'.repeat(100) }), { signal: signal() });
    expect(result).toEqual({ output: 'error: arguments too large: 111 bytes (limit 16)', isError: true });
  });

  test('a thrown error becomes an error result', async () => {
    const broken = defineTool({
      ...definitionOf('broken'),
      execute: () => {
        throw new Error('database unreachable');
      },
    });
    expect(await broken.invoke('{"text":"a"}', { signal: signal() })).toEqual({
      output: 'error: database unreachable',
      isError: true,
    });
  });

  test('a tool that outlives its timeout is abandoned with an error result and its signal aborted', async () => {
    let toolSignal: AbortSignal | undefined;
    const slow = defineTool({
      ...definitionOf('slow'),
      timeoutMs: 30,
      execute: (_args, context) => {
        toolSignal = context.signal;
        return new Promise(() => undefined); // never settles, ignores its signal
      },
    });
    const result = await within(slow.invoke('{"text":"a"}', { signal: signal() }), 'the timeout to fire');
    expect(result).toEqual({ output: 'error: timed out after 30 ms', isError: true });
    expect(toolSignal?.aborted).toBe(true);
  });

  test("the caller's abort is thrown, not captured", async () => {
    const controller = new AbortController();
    const hanging = defineTool({ ...definitionOf('hanging'), execute: () => new Promise(() => undefined) });
    const pending = hanging.invoke('{"text":"a"}', { signal: controller.signal });
    const reason = new Error('run cancelled');
    controller.abort(reason);
    await expect(within(pending, 'abort')).rejects.toBe(reason);
  });

  test('long output is truncated with a marker', async () => {
    const chatty = defineTool({
      ...definitionOf('chatty'),
      maxOutputBytes: 10,
      execute: () => 'abcdefghijklmnopqrstuvwxyz',
    });
    expect(await chatty.invoke('{"text":"a"}', { signal: signal() })).toEqual({
      output: 'abcdefghij\n…[truncated: 26 bytes, first 10 shown]',
      isError: false,
    });
    expect(truncate('ééé', 3)).toBe('é\n…[truncated: 6 bytes, first 3 shown]');
  });
});

function definitionOf(name: string) {
  return {
    name,
    description: name,
    parameters: z.object({ text: z.string() }),
    execute: ({ text }: { text: string }) => text,
  };
}
