// Termination strategies, table-driven: every decision carries `detail` and a human-readable
// `explanation`; combinations report the firing member (for `all`, the last one).
import { describe, expect, it } from 'vitest';
import type {
  TerminationContext,
  TerminationDecision,
  TerminationStrategy,
} from '../../src/agents/group-chat.ts';
import { AllTermination, AnyTermination, allOf, anyOf } from '../../src/agents/termination/combination.ts';
import { ExternalTermination } from '../../src/agents/termination/external.ts';
import { FunctionTermination } from '../../src/agents/termination/function.ts';
import { LlmJudgeTermination, parseVerdict } from '../../src/agents/termination/llm-judge.ts';
import { MaxIterationsTermination } from '../../src/agents/termination/max-iterations.ts';
import { RegexTermination } from '../../src/agents/termination/regex.ts';
import { TextMentionTermination } from '../../src/agents/termination/text-mention.ts';
import { TimeoutTermination } from '../../src/agents/termination/timeout.ts';
import { TokenBudgetTermination } from '../../src/agents/termination/token-budget.ts';
import type { Usage } from '../../src/protocol/frames.ts';
import type { Agent } from '../../src/agents/agent.ts';
import { agents, message, ScriptedModel } from '../teams/support.ts';

const [writer, reviewer] = agents(new ScriptedModel(['ok']), 'writer', 'reviewer') as [Agent, Agent];
const STARTED = 1_000_000;

function context(
  author: Agent,
  text: string,
  overrides: { iteration?: number; usage?: Partial<Usage>; startedAt?: number } = {},
): TerminationContext {
  const last = message(author.name, text);
  return {
    agent: author,
    message: last,
    history: [message('user', 'write a slogan'), last],
    iteration: overrides.iteration ?? 1,
    usage: { inputTokens: 0, outputTokens: 0, totalTokens: 0, ...overrides.usage },
    startedAt: overrides.startedAt ?? STARTED,
    signal: new AbortController().signal,
  };
}

interface Case {
  name: string;
  strategy: () => TerminationStrategy;
  context: TerminationContext;
  terminate: boolean;
  detail: string;
  explanation: RegExp;
}

const cases: Case[] = [
  // max iterations
  {
    name: 'max-iterations below the cap',
    strategy: () => new MaxIterationsTermination({ maxIterations: 3 }),
    context: context(writer, 'x', { iteration: 2 }),
    terminate: false,
    detail: 'max-iterations',
    explanation: /2 of 3 agent turns/,
  },
  {
    name: 'max-iterations at the cap',
    strategy: () => new MaxIterationsTermination({ maxIterations: 3 }),
    context: context(writer, 'x', { iteration: 3 }),
    terminate: true,
    detail: 'max-iterations',
    explanation: /reached 3 agent turns/,
  },
  // text mention (approval)
  {
    name: 'text-mention found',
    strategy: () => new TextMentionTermination({ text: 'APPROVED' }),
    context: context(reviewer, 'Looks good. APPROVED'),
    terminate: true,
    detail: 'approval',
    explanation: /reviewer wrote "APPROVED"/,
  },
  {
    name: 'text-mention is case-sensitive by default',
    strategy: () => new TextMentionTermination({ text: 'APPROVED' }),
    context: context(reviewer, 'approved'),
    terminate: false,
    detail: 'approval',
    explanation: /did not write "APPROVED"/,
  },
  {
    name: 'text-mention ignoreCase',
    strategy: () => new TextMentionTermination({ text: 'APPROVED', ignoreCase: true }),
    context: context(reviewer, 'approved!'),
    terminate: true,
    detail: 'approval',
    explanation: /reviewer wrote/,
  },
  {
    name: 'text-mention scoped to the reviewer ignores the writer',
    strategy: () => new TextMentionTermination({ text: 'APPROVED', agents: ['reviewer'] }),
    context: context(writer, 'I APPROVED it myself'),
    terminate: false,
    detail: 'approval',
    explanation: /only reviewer can end the run/,
  },
  {
    name: 'text-mention with its own detail',
    strategy: () => new TextMentionTermination({ text: 'DONE', detail: 'done' }),
    context: context(writer, 'DONE'),
    terminate: true,
    detail: 'done',
    explanation: /writer wrote "DONE"/,
  },
  // regex
  {
    name: 'regex matches',
    strategy: () => new RegexTermination({ pattern: '\\bapprove(d)?\\b', flags: 'i' }),
    context: context(reviewer, 'I Approve.'),
    terminate: true,
    detail: 'approval',
    explanation: /matched \/\\bapprove\(d\)\?\\b\/i \("Approve"\)/,
  },
  {
    name: 'regex does not match',
    strategy: () => new RegexTermination({ pattern: /^LGTM$/m }),
    context: context(reviewer, 'not yet'),
    terminate: false,
    detail: 'approval',
    explanation: /did not match/,
  },
  {
    name: 'regex with g flag stays stateless',
    strategy: () => new RegexTermination({ pattern: /ok/g }),
    context: context(reviewer, 'ok ok'),
    terminate: true,
    detail: 'approval',
    explanation: /\("ok"\)/,
  },
  {
    name: 'regex scoped to other agents',
    strategy: () => new RegexTermination({ pattern: 'ok', agents: ['reviewer'] }),
    context: context(writer, 'ok'),
    terminate: false,
    detail: 'approval',
    explanation: /only reviewer/,
  },
  // token budget
  {
    name: 'token budget within',
    strategy: () => new TokenBudgetTermination({ maxTotalTokens: 100 }),
    context: context(writer, 'x', { usage: { totalTokens: 99 } }),
    terminate: false,
    detail: 'token-budget',
    explanation: /used 99 tokens, within/,
  },
  {
    name: 'token budget total reached',
    strategy: () => new TokenBudgetTermination({ maxTotalTokens: 100 }),
    context: context(writer, 'x', { usage: { totalTokens: 100 } }),
    terminate: true,
    detail: 'token-budget',
    explanation: /used 100 tokens, reaching its budget of 100/,
  },
  {
    name: 'token budget output reached',
    strategy: () => new TokenBudgetTermination({ maxTotalTokens: 1000, maxOutputTokens: 50 }),
    context: context(writer, 'x', { usage: { outputTokens: 60, totalTokens: 70 } }),
    terminate: true,
    detail: 'token-budget',
    explanation: /60 output tokens, reaching its budget of 50/,
  },
  {
    name: 'token budget input reached',
    strategy: () => new TokenBudgetTermination({ maxInputTokens: 10 }),
    context: context(writer, 'x', { usage: { inputTokens: 11 } }),
    terminate: true,
    detail: 'token-budget',
    explanation: /11 input tokens/,
  },
  // timeout (checked after a message; mid-message aborts are tested with the GroupChat)
  {
    name: 'timeout not yet',
    strategy: () => new TimeoutTermination({ timeoutMs: 1000, now: () => STARTED + 999 }),
    context: context(writer, 'x'),
    terminate: false,
    detail: 'timeout',
    explanation: /999 of 1000 ms used/,
  },
  {
    name: 'timeout passed',
    strategy: () => new TimeoutTermination({ timeoutMs: 1000, now: () => STARTED + 1000 }),
    context: context(writer, 'x'),
    terminate: true,
    detail: 'timeout',
    explanation: /time limit of 1000 ms/,
  },
  // external
  {
    name: 'external not set',
    strategy: () => new ExternalTermination(),
    context: context(writer, 'x'),
    terminate: false,
    detail: 'external',
    explanation: /no stop was requested/,
  },
  {
    name: 'external set',
    strategy: () => {
      const external = new ExternalTermination();
      external.set('the operator stopped it');
      return external;
    },
    context: context(writer, 'x'),
    terminate: true,
    detail: 'external',
    explanation: /the operator stopped it/,
  },
  // custom function
  {
    name: 'function true',
    strategy: () => new FunctionTermination(({ message: last }) => last.text.endsWith('.')),
    context: context(writer, 'Done.'),
    terminate: true,
    detail: 'custom',
    explanation: /custom rule ended the run after writer/,
  },
  {
    name: 'function decision',
    strategy: () =>
      new FunctionTermination(() => ({ terminate: true, explanation: 'enough' }), { detail: 'mine' }),
    context: context(writer, 'x'),
    terminate: true,
    detail: 'mine',
    explanation: /enough/,
  },
  // any: the first member that fires decides
  {
    name: 'any: approval fires before the budget',
    strategy: () =>
      anyOf(
        new TextMentionTermination({ text: 'APPROVED' }),
        new TokenBudgetTermination({ maxTotalTokens: 10 }),
      ),
    context: context(reviewer, 'APPROVED', { usage: { totalTokens: 50 } }),
    terminate: true,
    detail: 'approval',
    explanation: /reviewer wrote "APPROVED"/,
  },
  {
    name: 'any: the budget fires',
    strategy: () =>
      anyOf(
        new TextMentionTermination({ text: 'APPROVED' }),
        new TokenBudgetTermination({ maxTotalTokens: 10 }),
      ),
    context: context(reviewer, 'more work', { usage: { totalTokens: 50 } }),
    terminate: true,
    detail: 'token-budget',
    explanation: /used 50 tokens/,
  },
  {
    name: 'any: nothing fires',
    strategy: () =>
      anyOf(
        new TextMentionTermination({ text: 'APPROVED' }),
        new MaxIterationsTermination({ maxIterations: 5 }),
      ),
    context: context(reviewer, 'more work', { iteration: 2 }),
    terminate: false,
    detail: 'any',
    explanation: /did not write "APPROVED"; 2 of 5 agent turns/,
  },
  // all: every member on the same message; the detail is the last member's
  {
    name: 'all: both fire',
    strategy: () =>
      allOf(
        new MaxIterationsTermination({ maxIterations: 2 }),
        new TextMentionTermination({ text: 'APPROVED' }),
      ),
    context: context(reviewer, 'APPROVED', { iteration: 3 }),
    terminate: true,
    detail: 'approval',
    explanation: /reached 2 agent turns; reviewer wrote "APPROVED"/,
  },
  {
    name: 'all: one does not fire',
    strategy: () =>
      allOf(
        new MaxIterationsTermination({ maxIterations: 4 }),
        new TextMentionTermination({ text: 'APPROVED' }),
      ),
    context: context(reviewer, 'APPROVED', { iteration: 3 }),
    terminate: false,
    detail: 'max-iterations',
    explanation: /not every condition holds: 3 of 4 agent turns/,
  },
  // nested
  {
    name: 'any(all(turns, approval), budget): the inner all fires',
    strategy: () =>
      new AnyTermination([
        new AllTermination([
          new MaxIterationsTermination({ maxIterations: 2 }),
          new RegexTermination({ pattern: 'LGTM' }),
        ]),
        new TokenBudgetTermination({ maxTotalTokens: 1000 }),
      ]),
    context: context(reviewer, 'LGTM', { iteration: 2, usage: { totalTokens: 10 } }),
    terminate: true,
    detail: 'approval',
    explanation: /reached 2 agent turns; reviewer's message matched \/LGTM\//,
  },
];

describe('termination decisions', () => {
  it.each(cases)('$name', async ({ strategy, context: given, terminate, detail, explanation }) => {
    const decision: TerminationDecision = await strategy().shouldTerminate(given);
    expect(decision.terminate).toBe(terminate);
    expect(decision.detail).toBe(detail);
    expect(decision.explanation).toMatch(explanation);
  });

  it('every strategy rejects options that cannot work', () => {
    expect(() => new MaxIterationsTermination({ maxIterations: 0 })).toThrow(/at least 1/);
    expect(() => new TextMentionTermination({ text: '' })).toThrow(/non-empty/);
    expect(() => new TokenBudgetTermination({})).toThrow(/maxTotalTokens/);
    expect(() => new TimeoutTermination({ timeoutMs: 0 })).toThrow(/positive/);
    expect(() => new AnyTermination([])).toThrow(/at least one member/);
  });

  it('external stays set until reset', () => {
    const external = new ExternalTermination();
    external.set();
    expect(external.shouldTerminate().terminate).toBe(true);
    expect(external.shouldTerminate().terminate).toBe(true);
    external.reset();
    expect(external.isSet).toBe(false);
    expect(external.shouldTerminate().terminate).toBe(false);
  });

  it('combination reset reaches every member', () => {
    const external = new ExternalTermination();
    external.set();
    const combination = anyOf(new MaxIterationsTermination({ maxIterations: 9 }), external);
    combination.reset();
    expect(external.isSet).toBe(false);
  });
});

describe('deadlines', () => {
  it.each([
    { name: 'timeout', strategy: () => new TimeoutTermination({ timeoutMs: 500 }), expected: STARTED + 500 },
    { name: 'no deadline', strategy: () => new TextMentionTermination({ text: 'x' }), expected: undefined },
    {
      name: 'any: the earliest member deadline',
      strategy: () =>
        anyOf(
          new TimeoutTermination({ timeoutMs: 900 }),
          new TextMentionTermination({ text: 'x' }),
          new TimeoutTermination({ timeoutMs: 300 }),
        ),
      expected: STARTED + 300,
    },
    {
      name: 'all: none unless every member has one',
      strategy: () =>
        allOf(new TimeoutTermination({ timeoutMs: 300 }), new TextMentionTermination({ text: 'x' })),
      expected: undefined,
    },
    {
      name: 'all: the latest when every member has one',
      strategy: () =>
        allOf(new TimeoutTermination({ timeoutMs: 300 }), new TimeoutTermination({ timeoutMs: 700 })),
      expected: STARTED + 700,
    },
  ])('$name', ({ strategy, expected }) => {
    const made: TerminationStrategy = strategy();
    expect(made.deadline?.(STARTED)).toBe(expected);
  });
});

describe('parseVerdict', () => {
  it.each([
    ['yes', { terminate: true, reason: '' }],
    ['Yes: the reviewer approved the copy.', { terminate: true, reason: 'the reviewer approved the copy.' }],
    ['**No.** The slogan is too long.', { terminate: false, reason: 'The slogan is too long.' }],
    ['"NO" - needs another pass', { terminate: false, reason: 'needs another pass' }],
    ['no, because the risks are open', { terminate: false, reason: 'the risks are open' }],
    ['Answer: yes — done', { terminate: true, reason: 'done' }],
    ['{"terminate": true, "reason": "approved"}', { terminate: true, reason: 'approved' }],
    ['```json\n{"done": "no", "explanation": "not yet"}\n```', { terminate: false, reason: 'not yet' }],
    ['maybe later', undefined],
    ['', undefined],
    ['{"verdict": 3}', undefined],
  ])('%j', (answer, expected) => {
    expect(parseVerdict(answer)).toEqual(expected);
  });
});

describe('LlmJudgeTermination', () => {
  it('streams the question and terminates on yes, with the reason as explanation', async () => {
    const judge = new ScriptedModel(['Yes: the reviewer approved the final copy.']);
    const strategy = new LlmJudgeTermination({
      model: judge,
      instructions: 'Done when the reviewer approved.',
    });
    const decision = await strategy.shouldTerminate(context(reviewer, 'Ship it'));
    expect(decision).toEqual({
      terminate: true,
      detail: 'judge',
      explanation: 'the reviewer approved the final copy.',
    });
    expect(judge.requests[0]?.agent).toEqual({
      name: 'judge',
      instructions: expect.stringContaining('Done when the reviewer approved.') as unknown,
    });
    expect(judge.requests[0]?.messages.map((entry) => entry.text)).toEqual([
      'write a slogan',
      'Ship it',
      expect.stringContaining('Is the conversation done?'),
    ]);
  });

  it.each([
    { answers: ['No: the risks are open.'], terminate: false, explanation: 'the risks are open.', calls: 1 },
    {
      answers: ['hmm', 'yes'],
      terminate: true,
      explanation: 'the judge said the conversation is done',
      calls: 2,
    },
    {
      answers: ['hmm', 'still thinking'],
      terminate: false,
      explanation: 'the judge answered neither yes nor no ("still thinking"); the run goes on',
      calls: 2,
    },
  ])('answers $answers → terminate $terminate', async ({ answers, terminate, explanation, calls }) => {
    const judge = new ScriptedModel(answers);
    const decision = await new LlmJudgeTermination({ model: judge }).shouldTerminate(
      context(reviewer, 'draft'),
    );
    expect(decision).toEqual({ terminate, detail: 'judge', explanation });
    expect(judge.requests).toHaveLength(calls);
  });

  it('is not consulted after agents outside its scope', async () => {
    const judge = new ScriptedModel(['yes']);
    const decision = await new LlmJudgeTermination({ model: judge, agents: ['reviewer'] }).shouldTerminate(
      context(writer, 'draft'),
    );
    expect(decision).toMatchObject({
      terminate: false,
      detail: 'judge',
      explanation: 'the judge only rules after reviewer',
    });
    expect(judge.requests).toHaveLength(0);
  });
});
