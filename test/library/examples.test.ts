// The examples in examples/ (the ones docs/library.md shows), run as they are: imported and run
// against the demo model and against the fake OpenAI server, and one started with `node`.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as chatCompletionExample from '../../examples/chat-completion-streaming.ts';
import * as groupChatExample from '../../examples/group-chat-approval.ts';
import * as responsesExample from '../../examples/responses-agent-streaming.ts';
import { FakeOpenAI } from '../support/fake-openai.ts';
import { chatAnswer } from '../teams/support.ts';

const DEMO_ENV = { CHORUS_DEMO_TOKENS_PER_SECOND: '0' };

function output(): { write: (text: string) => void; text: () => string } {
  let text = '';
  return { write: (chunk) => void (text += chunk), text: () => text };
}

describe('examples on the demo model', () => {
  it('chat-completion-streaming: streams two answers; the thread holds all four messages', async () => {
    const out = output();
    const messages = await chatCompletionExample.main({ env: DEMO_ENV, write: out.write });
    expect(messages.map((message) => `${message.role}:${message.author}`)).toEqual([
      'user:user',
      'assistant:Host',
      'user:user',
      'assistant:Host',
    ]);
    expect(messages.every((message) => message.status === 'completed')).toBe(true);
    expect(out.text()).toContain('# user: What is the special soup?\n# Host: ');
    // What was streamed is what the thread holds.
    for (const message of messages.filter((entry) => entry.role === 'assistant'))
      expect(out.text()).toContain(message.text);
  });

  it('group-chat-approval: writer and art director alternate until the art director approves', async () => {
    const out = output();
    const result = await groupChatExample.main({ env: DEMO_ENV, write: out.write });
    expect(result.speakers).toEqual(['CopyWriter', 'ArtDirector', 'CopyWriter', 'ArtDirector']);
    expect(result.isComplete).toBe(true);
    expect(result.messages).toHaveLength(5);
    expect(result.messages.at(-1)?.text).toMatch(/APPROVED$/);
    expect(out.text()).toMatch(/\n# ArtDirector: .*APPROVED\n\nComplete: true\n$/);
  });

  it('group-chat-approval runs as a script with node', async () => {
    const script = fileURLToPath(new URL('../../examples/group-chat-approval.ts', import.meta.url));
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [script],
        { env: { PATH: process.env.PATH ?? '', ...DEMO_ENV }, timeout: 20_000 },
        (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)),
      );
    });
    expect(stdout).toMatch(/^# user: a slogan for a new line of electric cars\.\n# CopyWriter: /);
    expect(stdout).toContain('Complete: true');
  });
});

describe('examples against an OpenAI-compatible server (the fake)', () => {
  let fake: FakeOpenAI;
  let env: Record<string, string>;

  beforeAll(async () => {
    fake = await FakeOpenAI.start();
    env = { OPENAI_API_KEY: 'test-key', OPENAI_BASE_URL: fake.baseURL, CHORUS_MODEL: 'gpt-5-mini' };
  });

  afterAll(async () => {
    await fake.close();
  });

  it('chat-completion-streaming: two streamed Chat Completions calls, the second with the first exchange', async () => {
    const from = fake.requests.length;
    fake.script({ fixture: 'chat-text' }, chatAnswer('Clam chowder.'));
    const out = output();
    const messages = await chatCompletionExample.main({ env, write: out.write });
    expect(messages.map((message) => message.text)).toEqual([
      'Hello',
      'Hello from Chorus.',
      'What is the special soup?',
      'Clam chowder.',
    ]);
    expect(out.text()).toBe(
      '# user: Hello\n# Host: Hello from Chorus.\n# user: What is the special soup?\n# Host: Clam chowder.\n',
    );
    const requests = fake.requests.slice(from);
    expect(requests.map((request) => request.body)).toMatchObject([{ stream: true }, { stream: true }]);
    const second = requests[1]?.body as { messages: { role: string; content: unknown }[]; tools?: unknown[] };
    expect(second.messages.map((entry) => entry.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(second.tools).toHaveLength(1);
  });

  it('group-chat-approval: ends when the art director approves', async () => {
    fake.script(
      chatAnswer('Drive the future.'),
      chatAnswer('Too bland. Sharpen it.'),
      chatAnswer('Silence is golden.'),
      chatAnswer('Approved for print.'),
    );
    const result = await groupChatExample.main({ env, write: () => undefined });
    expect(result.speakers).toEqual(['CopyWriter', 'ArtDirector', 'CopyWriter', 'ArtDirector']);
    expect(result.messages.map((message) => message.text).slice(1)).toEqual([
      'Drive the future.',
      'Too bland. Sharpen it.',
      'Silence is golden.',
      'Approved for print.',
    ]);
    expect(result.isComplete).toBe(true);
  });

  it('responses-agent-streaming: continues the remote conversation and deletes it with the thread', async () => {
    const from = fake.requests.length;
    fake.script({ fixture: 'responses-text' }, { fixture: 'responses-text-followup' });
    const out = output();
    const messages = await responsesExample.main({ env, write: out.write });
    expect(messages.map((message) => message.text)).toEqual([
      'What is the capital of France?',
      'Hello from the Responses API.',
      'And its population?',
      'Glad to continue.',
    ]);
    const requests = fake.requests.slice(from);
    const posts = requests.filter((request) => request.method === 'POST');
    expect(posts.map((request) => request.path)).toEqual(['/v1/responses', '/v1/responses']);
    expect(posts[0]?.body).toMatchObject({ stream: true });
    expect(posts[1]?.body).toMatchObject({ stream: true, previous_response_id: 'resp_text_1' });
    const deletes = requests.filter((request) => request.method === 'DELETE').map((request) => request.path);
    expect(deletes.sort()).toEqual(['/v1/responses/resp_text_1', '/v1/responses/resp_text_2']);
  });
});

describe('README.md', () => {
  it('shows the seed examples as they are', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    for (const name of ['chat-completion-streaming.ts', 'group-chat-approval.ts']) {
      const source = await readFile(new URL(`../../examples/${name}`, import.meta.url), 'utf8');
      expect(readme, name).toContain(source.trim());
    }
  });
});

describe('docs/library.md', () => {
  it('shows the examples as they are', async () => {
    const docs = await readFile(new URL('../../docs/library.md', import.meta.url), 'utf8');
    for (const name of [
      'chat-completion-streaming.ts',
      'group-chat-approval.ts',
      'responses-agent-streaming.ts',
    ]) {
      const source = await readFile(new URL(`../../examples/${name}`, import.meta.url), 'utf8');
      expect(docs, name).toContain(source.trim());
    }
  });
});
