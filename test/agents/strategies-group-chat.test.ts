// Strategies inside the GroupChat: how each ends a run (run-end reason, detail, explanation), the
// hard iteration cap, and the wall-clock timeout that stops a message mid-stream.
import { describe, expect, it } from 'vitest';
import { GroupChat, RunAbort, type TerminationStrategy } from '../../src/agents/group-chat.ts';
import { SequentialSelection } from '../../src/agents/selection/sequential.ts';
import { anyOf } from '../../src/agents/termination/combination.ts';
import { ExternalTermination } from '../../src/agents/termination/external.ts';
import { LlmJudgeTermination } from '../../src/agents/termination/llm-judge.ts';
import { MaxIterationsTermination } from '../../src/agents/termination/max-iterations.ts';
import { TextMentionTermination } from '../../src/agents/termination/text-mention.ts';
import { TimeoutTermination } from '../../src/agents/termination/timeout.ts';
import { TokenBudgetTermination } from '../../src/agents/termination/token-budget.ts';
import type { ModelClient } from '../../src/agents/model-client.ts';
import {
  agents,
  finished,
  HangingModel,
  message,
  runChat,
  runEnd,
  ScriptedModel,
  speakers,
} from '../teams/support.ts';

function chat(
  termination: TerminationStrategy,
  options: { model?: ModelClient; maxIterations?: number; timeoutMs?: number } = {},
): GroupChat {
  return new GroupChat({
    agents: agents(options.model ?? new ScriptedModel(['draft']), 'writer', 'reviewer'),
    selection: new SequentialSelection(),
    termination,
    maxIterations: options.maxIterations ?? 10,
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });
}

const reviewerApproves = new ScriptedModel([
  (request) => (request.agent.name === 'reviewer' ? 'Fine. APPROVED' : 'A draft.'),
]);

describe('how strategies end a run', () => {
  it.each([
    {
      name: 'approval from the reviewer',
      make: () =>
        chat(new TextMentionTermination({ text: 'APPROVED', agents: ['reviewer'] }), {
          model: reviewerApproves,
        }),
      turns: ['writer', 'reviewer'],
      end: { reason: 'terminated', detail: 'approval', explanation: 'reviewer wrote "APPROVED"' },
    },
    {
      name: 'the max-iterations strategy (terminated)',
      make: () => chat(new MaxIterationsTermination({ maxIterations: 3 })),
      turns: ['writer', 'reviewer', 'writer'],
      end: { reason: 'terminated', detail: 'max-iterations', explanation: 'the run reached 3 agent turns' },
    },
    {
      name: 'the hard cap (max-iterations, not terminated)',
      make: () => chat(new TextMentionTermination({ text: 'never said' }), { maxIterations: 2 }),
      turns: ['writer', 'reviewer'],
      end: { reason: 'max-iterations', explanation: 'the run reached its cap of 2 agent turns' },
    },
    {
      name: 'the token budget over several messages',
      make: () =>
        chat(new TokenBudgetTermination({ maxTotalTokens: 25 }), {
          model: new ScriptedModel(['words'], {
            usage: { inputTokens: 5, outputTokens: 5, totalTokens: 10 },
          }),
        }),
      turns: ['writer', 'reviewer', 'writer'],
      end: {
        reason: 'terminated',
        detail: 'token-budget',
        explanation: 'the run used 30 tokens, reaching its budget of 25',
      },
    },
    {
      name: 'an LLM judge that says yes on its second question',
      make: () =>
        chat(
          new LlmJudgeTermination({
            model: new ScriptedModel(['No: keep going.', 'Yes: the copy is final.']),
          }),
        ),
      turns: ['writer', 'reviewer'],
      end: { reason: 'terminated', detail: 'judge', explanation: 'the copy is final.' },
    },
    {
      name: 'any(approval, budget): whichever fires first',
      make: () =>
        chat(
          anyOf(
            new TextMentionTermination({ text: 'APPROVED' }),
            new TokenBudgetTermination({ maxTotalTokens: 1000 }),
          ),
          {
            model: reviewerApproves,
          },
        ),
      turns: ['writer', 'reviewer'],
      end: { reason: 'terminated', detail: 'approval', explanation: 'reviewer wrote "APPROVED"' },
    },
  ])('$name', async ({ make, turns, end }) => {
    const events = await runChat(make(), [message('user', 'write a slogan')]);
    expect(speakers(events)).toEqual(turns);
    expect(runEnd(events)).toEqual({ type: 'run-end', ...end });
  });

  it('an external stop ends the run after the current message', async () => {
    const external = new ExternalTermination();
    const group = chat(external);
    const events = [];
    for await (const event of group.run({
      history: [message('user', 'go')],
      signal: new AbortController().signal,
    })) {
      events.push(event);
      if (event.type === 'message-start') external.set('stopped by the operator');
    }
    expect(speakers(events)).toEqual(['writer']);
    expect(finished(events)[0]?.status).toBe('completed');
    expect(runEnd(events)).toMatchObject({
      reason: 'terminated',
      detail: 'external',
      explanation: 'stopped by the operator',
    });
  });

  it('a cancel (the run signal) stops the message mid-stream: cancelled', async () => {
    const controller = new AbortController();
    const model = new HangingModel();
    const group = chat(new TextMentionTermination({ text: 'x' }), { model });
    const events = [];
    for await (const event of group.run({ history: [message('user', 'go')], signal: controller.signal })) {
      events.push(event);
      if (event.type === 'message-delta') controller.abort(new RunAbort('cancelled'));
    }
    expect(finished(events)).toMatchObject([{ status: 'cancelled', text: 'partial' }]);
    expect(runEnd(events)).toMatchObject({ reason: 'cancelled' });
  });

  it('a termination strategy that throws fails the run with detail termination', async () => {
    const broken: TerminationStrategy = {
      shouldTerminate: () => {
        throw new Error('rule exploded');
      },
    };
    const events = await runChat(chat(broken), [message('user', 'go')]);
    expect(runEnd(events)).toEqual({
      type: 'run-end',
      reason: 'failed',
      detail: 'termination',
      explanation: 'rule exploded',
    });
  });
});

describe('the wall-clock timeout', () => {
  it.each([
    {
      name: 'a TimeoutTermination deadline',
      make: (model: ModelClient) => chat(new TimeoutTermination({ timeoutMs: 40 }), { model }),
    },
    {
      name: 'the GroupChat timeoutMs option',
      make: (model: ModelClient) => chat(new TextMentionTermination({ text: 'x' }), { model, timeoutMs: 40 }),
    },
    {
      name: 'a timeout inside any()',
      make: (model: ModelClient) =>
        chat(anyOf(new TextMentionTermination({ text: 'x' }), new TimeoutTermination({ timeoutMs: 40 })), {
          model,
        }),
    },
  ])('$name stops a message mid-stream: cancelled, run-end terminated/timeout', async ({ make }) => {
    const model = new HangingModel();
    const events = await runChat(make(model), [message('user', 'go')], { timeoutMs: 3000 });
    expect(model.started).toBe(1);
    expect(finished(events)).toMatchObject([{ author: 'writer', status: 'cancelled', text: 'partial' }]);
    expect(runEnd(events)).toEqual({
      type: 'run-end',
      reason: 'terminated',
      detail: 'timeout',
      explanation: 'the run reached its time limit of 40 ms',
    });
  });

  it('leaves no timer behind when the run ends first', async () => {
    const events = await runChat(
      chat(new MaxIterationsTermination({ maxIterations: 1 }), { timeoutMs: 60_000 }),
      [message('user', 'go')],
    );
    expect(runEnd(events)).toMatchObject({ reason: 'terminated', detail: 'max-iterations' });
  });

  it('a run whose deadline has passed before it starts ends at once', async () => {
    const stale = new TimeoutTermination({ timeoutMs: 1 });
    const expired: TerminationStrategy = {
      shouldTerminate: (context) => stale.shouldTerminate(context),
      deadline: () => Date.now() - 1,
    };
    const events = await runChat(chat(expired), [message('user', 'go')]);
    expect(speakers(events)).toEqual([]);
    expect(runEnd(events)).toMatchObject({ reason: 'terminated', detail: 'timeout' });
  });
});
