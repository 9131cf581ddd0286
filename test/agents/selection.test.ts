// Selection strategies: sequential (initial agent, no double first turn, across runs), @mention
// (with fallback), LLM selector (streaming only, lenient parse, retries, fallback) and custom
// functions — table-driven where the cases are data.
import { describe, expect, it } from 'vitest';
import { GroupChat, type SelectionContext, type SelectionStrategy } from '../../src/agents/group-chat.ts';
import { FunctionSelection } from '../../src/agents/selection/function.ts';
import {
  LlmSelection,
  parseAgentName,
  type LlmSelectionDecision,
} from '../../src/agents/selection/llm-selector.ts';
import { firstMention, MentionSelection } from '../../src/agents/selection/mention.ts';
import { SequentialSelection } from '../../src/agents/selection/sequential.ts';
import { MaxIterationsTermination } from '../../src/agents/termination/max-iterations.ts';
import type { Agent } from '../../src/agents/agent.ts';
import type { ModelClient } from '../../src/agents/model-client.ts';
import type { Message } from '../../src/protocol/frames.ts';
import { agents, message, runChat, runEnd, ScriptedModel, speakers } from '../teams/support.ts';

const model = new ScriptedModel(['ok']);
const [planner, writer, reviewer] = agents(model, 'planner', 'writer', 'reviewer') as [Agent, Agent, Agent];
const team = [planner, writer, reviewer];

function context(overrides: Partial<SelectionContext> = {}): SelectionContext {
  return {
    agents: team,
    history: [message('user', 'hello')],
    iteration: 1,
    lastAgent: undefined,
    signal: new AbortController().signal,
    ...overrides,
  };
}

/** Picks `count` times, feeding each pick back as the last agent (as the GroupChat does). */
async function picks(
  strategy: SelectionStrategy,
  count: number,
  history: Message[] = [message('user', 'hello')],
): Promise<string[]> {
  const names: string[] = [];
  let lastAgent: Agent | undefined;
  for (let iteration = 1; iteration <= count; iteration += 1) {
    const agent = await strategy.select(context({ history, iteration, lastAgent }));
    names.push(agent.name);
    lastAgent = agent;
  }
  return names;
}

describe('SequentialSelection', () => {
  it.each([
    { initialAgent: undefined, expected: ['planner', 'writer', 'reviewer', 'planner'] },
    { initialAgent: 'writer', expected: ['writer', 'reviewer', 'planner', 'writer'] },
    { initialAgent: 'reviewer', expected: ['reviewer', 'planner', 'writer', 'reviewer'] },
  ])(
    'starts with $initialAgent and never gives the first agent two turns in a row',
    async ({ initialAgent, expected }) => {
      expect(await picks(new SequentialSelection({ initialAgent }), 4)).toEqual(expected);
    },
  );

  it('fails on an initial agent that is not in the chat', () => {
    expect(() => new SequentialSelection({ initialAgent: 'editor' }).select(context())).toThrow(
      /initial agent "editor"/,
    );
  });

  it('carries on from the agent that spoke last, whoever picked it', () => {
    const strategy = new SequentialSelection();
    expect(strategy.select(context({ lastAgent: reviewer })).name).toBe('planner');
    expect(strategy.select(context({ lastAgent: planner })).name).toBe('writer');
  });

  it('across runs: a fresh chat per run (the server) starts at the initial agent each time', async () => {
    const makeChat = () =>
      new GroupChat({
        agents: agents(new ScriptedModel(['ok']), 'planner', 'writer', 'reviewer'),
        selection: new SequentialSelection({ initialAgent: 'writer' }),
        termination: new MaxIterationsTermination({ maxIterations: 2 }),
        maxIterations: 10,
      });
    expect(speakers(await runChat(makeChat(), [message('user', 'one')]))).toEqual(['writer', 'reviewer']);
    expect(speakers(await runChat(makeChat(), [message('user', 'two')]))).toEqual(['writer', 'reviewer']);
  });

  it('across runs: one chat (the library) continues the round robin until reset', async () => {
    const chat = new GroupChat({
      agents: agents(new ScriptedModel(['ok']), 'planner', 'writer', 'reviewer'),
      selection: new SequentialSelection({ initialAgent: 'writer' }),
      termination: new MaxIterationsTermination({ maxIterations: 2 }),
      maxIterations: 10,
    });
    expect(speakers(await runChat(chat, [message('user', 'one')]))).toEqual(['writer', 'reviewer']);
    expect(speakers(await runChat(chat, [message('user', 'two')]))).toEqual(['planner', 'writer']);
    expect(speakers(await runChat(chat, [message('user', 'three')]))).toEqual(['reviewer', 'planner']);
    chat.reset();
    expect(speakers(await runChat(chat, [message('user', 'four')]))).toEqual(['writer', 'reviewer']);
  });
});

describe('MentionSelection', () => {
  it.each([
    { text: '@writer please draft it', author: 'user', expected: 'writer' },
    { text: 'Over to @REVIEWER.', author: 'writer', expected: 'reviewer' },
    { text: '@Writer, then @reviewer', author: 'user', expected: 'writer' },
    { text: 'then @reviewer, not @writer', author: 'user', expected: 'reviewer' },
    { text: 'email planner@example.com', author: 'user', expected: 'planner (fallback)' },
    { text: 'ask @writers', author: 'user', expected: 'planner (fallback)' },
    { text: 'ask @writer-bot', author: 'user', expected: 'planner (fallback)' },
    { text: 'I, @writer, will go on; @reviewer next', author: 'writer', expected: 'reviewer' },
    { text: 'I, @writer, will go on', author: 'writer', expected: 'planner (fallback)' },
    { text: 'no mention at all', author: 'user', expected: 'planner (fallback)' },
  ])('"$text" from $author → $expected', async ({ text, author, expected }) => {
    let fellBack = false;
    const fallback = new FunctionSelection(() => {
      fellBack = true;
      return 'planner';
    });
    const strategy = new MentionSelection({ fallback });
    const agent = await strategy.select(context({ history: [message(author, text)] }));
    expect(fellBack ? `${agent.name} (fallback)` : agent.name).toBe(expected);
  });

  it('lets an agent pick itself when allowSelfMention is set', async () => {
    const strategy = new MentionSelection({ allowSelfMention: true });
    expect((await strategy.select(context({ history: [message('writer', 'I, @writer, go on')] }))).name).toBe(
      'writer',
    );
  });

  it('falls back to sequential by default, which continues after the mentioned agent', async () => {
    const chat = new GroupChat({
      agents: agents(new ScriptedModel(['no mention here']), 'planner', 'writer', 'reviewer'),
      selection: new MentionSelection(),
      termination: new MaxIterationsTermination({ maxIterations: 3 }),
      maxIterations: 10,
    });
    const events = await runChat(chat, [message('user', '@reviewer first, please')]);
    expect(speakers(events)).toEqual(['reviewer', 'planner', 'writer']);
  });

  it('finds whole names only, case-insensitively', () => {
    expect(firstMention('hi @PLANNER!', team)?.name).toBe('planner');
    expect(firstMention('hi @plannerX', team)).toBeUndefined();
  });
});

describe('parseAgentName', () => {
  const names = ['planner', 'writer', 'reviewer', 'code-reviewer'];
  it.each([
    ['writer', 'writer'],
    ['Writer', 'writer'],
    ['"writer"', 'writer'],
    ["'writer'.", 'writer'],
    ['**Writer**', 'writer'],
    ['`reviewer`\n', 'reviewer'],
    ['@planner', 'planner'],
    ['Next: writer.', 'writer'],
    ['The next speaker is the reviewer.', 'reviewer'],
    ['“planner”', 'planner'],
    ['code-reviewer', 'code-reviewer'],
    ['```\nwriter\n```', 'writer'],
    ['editor', undefined],
    ['', undefined],
    ['writer or reviewer', undefined],
    ['writers', undefined],
  ])('%j → %s', (answer, expected) => {
    expect(parseAgentName(answer, names)).toBe(expected);
  });
});

describe('LlmSelection', () => {
  it('streams the question and picks the named agent, with participants and descriptions in the prompt', async () => {
    const selector = new ScriptedModel(['"Writer".']);
    const decisions: LlmSelectionDecision[] = [];
    const strategy = new LlmSelection({
      model: selector,
      instructions: 'The writer drafts.',
      onDecision: (decision) => decisions.push(decision),
    });
    const agent = await strategy.select(context());
    expect(agent).toBe(writer);
    expect(decisions).toEqual([{ agent: 'writer', answers: ['"Writer".'], fallback: false }]);
    const [request] = selector.requests;
    expect(request?.agent.name).toBe('selector');
    expect(request?.agent.instructions).toContain('- writer: the writer');
    expect(request?.agent.instructions).toContain('The writer drafts.');
    expect(request?.messages.at(-1)?.text).toContain('planner, writer, reviewer');
  });

  it.each([
    { answers: ['editor', 'reviewer'], maxRetries: 2, expected: 'reviewer', fallback: false, calls: 2 },
    {
      answers: ['editor', 'nobody', 'Planner!'],
      maxRetries: 2,
      expected: 'planner',
      fallback: false,
      calls: 3,
    },
    {
      answers: ['editor', 'nobody', 'still nobody'],
      maxRetries: 2,
      expected: 'writer',
      fallback: true,
      calls: 3,
    },
    { answers: ['editor'], maxRetries: 0, expected: 'writer', fallback: true, calls: 1 },
  ])(
    'answers $answers with maxRetries $maxRetries → $expected',
    async ({ answers, maxRetries, expected, fallback, calls }) => {
      const selector = new ScriptedModel(answers);
      const decisions: LlmSelectionDecision[] = [];
      const strategy = new LlmSelection({
        model: selector,
        maxRetries,
        fallback: new FunctionSelection(() => 'writer'),
        onDecision: (decision) => decisions.push(decision),
      });
      expect((await strategy.select(context())).name).toBe(expected);
      expect(selector.requests).toHaveLength(calls);
      expect(decisions[0]?.fallback).toBe(fallback);
      // A retry tells the model what was wrong with its answer.
      if (calls > 1)
        expect(selector.requests[1]?.messages.at(-1)?.text).toContain(
          '"editor" is not one of the participants',
        );
    },
  );

  it('keeps the last speaker out when allowRepeatedSpeaker is false', async () => {
    const selector = new ScriptedModel(['writer', 'reviewer']);
    const strategy = new LlmSelection({ model: selector, allowRepeatedSpeaker: false });
    expect((await strategy.select(context({ lastAgent: writer }))).name).toBe('reviewer');
    expect(selector.requests[0]?.agent.instructions).not.toContain('- writer');
  });

  it('reads at most historyLimit messages', async () => {
    const selector = new ScriptedModel(['planner']);
    const history = Array.from({ length: 10 }, (_, index) => message('user', `message ${index}`));
    await new LlmSelection({ model: selector, historyLimit: 3 }).select(context({ history }));
    expect(selector.requests[0]?.messages.map((entry) => entry.text).slice(0, 3)).toEqual([
      'message 7',
      'message 8',
      'message 9',
    ]);
  });

  it('drives a group chat turn by turn', async () => {
    const selector = new ScriptedModel([
      (request) =>
        request.messages.at(-2)?.author === 'user'
          ? 'planner'
          : request.messages.at(-2)?.author === 'planner'
            ? 'writer'
            : 'reviewer',
    ]);
    const chat = new GroupChat({
      agents: agents(new ScriptedModel(['fine']), 'planner', 'writer', 'reviewer'),
      selection: new LlmSelection({ model: selector }),
      termination: new MaxIterationsTermination({ maxIterations: 3 }),
      maxIterations: 10,
    });
    expect(speakers(await runChat(chat, [message('user', 'go')]))).toEqual(['planner', 'writer', 'reviewer']);
  });

  it('a failing selector model fails the run with detail selection', async () => {
    const failing: ModelClient = {
      id: 'failing',
      stream: () => ({
        [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error('selector down')) }),
      }),
    };
    const chat = new GroupChat({
      agents: agents(new ScriptedModel(['fine']), 'planner', 'writer'),
      selection: new LlmSelection({ model: failing }),
      termination: new MaxIterationsTermination({ maxIterations: 3 }),
      maxIterations: 10,
    });
    const events = await runChat(chat, [message('user', 'go')]);
    expect(runEnd(events)).toMatchObject({
      reason: 'failed',
      detail: 'selection',
      explanation: 'selector down',
    });
  });
});

describe('FunctionSelection', () => {
  it.each([
    { choose: () => 'reviewer', expected: 'reviewer' },
    { choose: () => writer, expected: 'writer' },
    { choose: () => Promise.resolve('planner'), expected: 'planner' },
  ])('returns the chosen agent ($expected)', async ({ choose, expected }) => {
    expect((await new FunctionSelection(choose).select(context())).name).toBe(expected);
  });

  it('rejects a name that is not in the chat', async () => {
    await expect(new FunctionSelection(() => 'editor').select(context())).rejects.toThrow(
      /"editor", who is not in the group chat/,
    );
  });

  it('gets the context: history, iteration and last agent', async () => {
    const seen: string[] = [];
    const strategy = new FunctionSelection(({ iteration, lastAgent, history }) => {
      seen.push(`${iteration}:${lastAgent?.name ?? '-'}:${history.length}`);
      return 'writer';
    });
    await picks(strategy, 2);
    expect(seen).toEqual(['1:-:1', '2:writer:1']);
  });
});
