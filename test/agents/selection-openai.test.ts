// The LLM selector and judge on the real OpenAIChatModel against the fake OpenAI-compatible server:
// every question is a streaming request (`stream: true`; the fake answers in SSE only, which a
// non-streaming call could not read), and answers arrive in fragments.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenAIChatModel } from '../../src/agents/openai-chat-model.ts';
import { LlmSelection, type LlmSelectionDecision } from '../../src/agents/selection/llm-selector.ts';
import { LlmJudgeTermination } from '../../src/agents/termination/llm-judge.ts';
import { FakeOpenAI } from '../support/fake-openai.ts';
import { agents, chatAnswer, message, ScriptedModel } from '../teams/support.ts';

describe('LLM selector and judge on Chat Completions (stream only)', () => {
  let fake: FakeOpenAI;
  let model: OpenAIChatModel;

  beforeAll(async () => {
    fake = await FakeOpenAI.start();
    model = new OpenAIChatModel({
      apiKey: 'test-key',
      baseURL: fake.baseURL,
      model: 'gpt-5-mini',
      retry: { maxAttempts: 1 },
    });
  });

  afterAll(async () => {
    await fake.close();
  });

  it('the selector retries an unknown name, then picks the named agent', async () => {
    const from = fake.requests.length;
    fake.script(chatAnswer('The editor should go.'), chatAnswer('**Reviewer**.'));
    const decisions: LlmSelectionDecision[] = [];
    const team = agents(new ScriptedModel(['unused']), 'planner', 'writer', 'reviewer');
    const selector = new LlmSelection({ model, onDecision: (decision) => decisions.push(decision) });
    const agent = await selector.select({
      agents: team,
      history: [message('user', 'Write a slogan'), message('writer', 'Electric, at last.')],
      iteration: 2,
      lastAgent: team[1],
      signal: new AbortController().signal,
    });
    expect(agent.name).toBe('reviewer');
    expect(decisions).toEqual([
      { agent: 'reviewer', answers: ['The editor should go.', '**Reviewer**.'], fallback: false },
    ]);
    const requests = fake.requests.slice(from);
    expect(requests).toHaveLength(2);
    for (const request of requests) expect(request.body).toMatchObject({ stream: true, model: 'gpt-5-mini' });
    const retry = requests[1]?.body as { messages: { role: string; content: string }[] };
    expect(retry.messages.at(-1)?.content).toContain('is not one of the participants');
  });

  it('the judge answers yes with a reason over a stream', async () => {
    const from = fake.requests.length;
    fake.script(chatAnswer('Yes: the reviewer approved the final slogan.'));
    const [reviewer] = agents(new ScriptedModel(['unused']), 'reviewer');
    const last = message('reviewer', 'APPROVED');
    const decision = await new LlmJudgeTermination({ model }).shouldTerminate({
      agent: reviewer!,
      message: last,
      history: [message('user', 'Write a slogan'), last],
      iteration: 1,
      usage: { inputTokens: 0, outputTokens: 0, totalTokens: 0 },
      startedAt: Date.now(),
      signal: new AbortController().signal,
    });
    expect(decision).toEqual({
      terminate: true,
      detail: 'judge',
      explanation: 'the reviewer approved the final slogan.',
    });
    expect(fake.requests.slice(from).map((request) => (request.body as { stream?: boolean }).stream)).toEqual(
      [true],
    );
  });
});
