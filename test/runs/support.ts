// What the run-layer window tests share: a model the test can hold mid-message, a one-agent team on
// it, servers whose store is wrapped in the fault injector, and readers of what a viewer saw.
import { Agent } from '../../src/agents/agent.ts';
import { GroupChat } from '../../src/agents/group-chat.ts';
import { SequentialSelection } from '../../src/agents/selection/sequential.ts';
import type { ModelClient, ModelEvent, ModelTurnRequest } from '../../src/agents/model-client.ts';
import type { MultitaskPolicy, Team } from '../../src/teams/team.ts';
import { TeamRegistry } from '../../src/teams/team.ts';
import type { Frame, FrameOf } from '../support/ws-client.ts';

export interface Hold {
  /** Resolves when a turn reached the hold (it has streamed its first delta). */
  readonly reached: Promise<void>;
  release(): void;
}

/**
 * Answers each turn with `reply to: <the last user message's text>` in a few deltas. A test may
 * hold the next turn after its first delta until it releases it (the run is then mid-message).
 */
export class ControlledModel implements ModelClient {
  readonly id = 'controlled';
  /** The messages each turn was given (its context). */
  readonly contexts: string[][] = [];
  private holds: { reached: () => void; gate: Promise<void> }[] = [];

  holdNextTurn(): Hold {
    let reached!: () => void;
    const reachedPromise = new Promise<void>((resolve) => {
      reached = resolve;
    });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.holds.push({ reached, gate });
    return { reached: reachedPromise, release };
  }

  async *stream(request: ModelTurnRequest): AsyncGenerator<ModelEvent> {
    const texts = request.messages.map((message) => message.text);
    this.contexts.push(texts);
    const lastUser = [...request.messages].reverse().find((message) => message.role === 'user');
    // A post that starts with `long` gets a long reply (a message that streams for a while).
    const padding = lastUser?.text.startsWith('long') ? ' and so on'.repeat(100) : '';
    const words = `reply to: ${lastUser?.text ?? 'nothing'}${padding}`.split(/(?<= )/);
    const hold = this.holds.shift();
    for (const [index, word] of words.entries()) {
      request.signal.throwIfAborted();
      yield { type: 'delta', delta: { text: word } };
      if (index === 0 && hold) {
        hold.reached();
        await new Promise<void>((resolve, reject) => {
          const onAbort = () => reject(request.signal.reason as Error);
          request.signal.addEventListener('abort', onAbort, { once: true });
          void hold.gate.then(() => {
            request.signal.removeEventListener('abort', onAbort);
            resolve();
          });
        });
      } else {
        // As a model over the network: other work (the run's publishes) goes on between fragments;
        // a long reply takes about a millisecond a fragment (it streams for a while).
        await new Promise<void>((resolve) => (padding ? setTimeout(resolve, 1) : setImmediate(resolve)));
      }
    }
    yield { type: 'finish', reason: 'stop' };
  }
}

/** A team named `solo`: one agent on `model` that answers once per run. */
export function soloTeams(
  model: ControlledModel,
  multitask: MultitaskPolicy = 'queue',
  queueMax?: number,
): TeamRegistry {
  const agent = new Agent({ name: 'solo', description: 'answers', instructions: 'Answer.', model });
  const team: Team = {
    name: 'solo',
    description: 'one agent that answers once',
    agentNames: ['solo'],
    multitask,
    ...(queueMax === undefined ? {} : { queueMax }),
    createGroupChat: () =>
      new GroupChat({
        agents: [agent],
        selection: new SequentialSelection(),
        termination: { shouldTerminate: () => ({ terminate: true, detail: 'answered' }) },
        maxIterations: 1,
      }),
    models: () => [model],
  };
  return new TeamRegistry([team]);
}

/** The user message ids each run (by run-start) says it answers, in the order seen. */
export function answeredPosts(frames: readonly Frame[]): Map<string, string[]> {
  const answered = new Map<string, string[]>();
  for (const frame of frames) {
    if (frame.type !== 'run-start') continue;
    for (const messageId of (frame as FrameOf<'run-start'>).posts ?? []) {
      answered.set(messageId, [...(answered.get(messageId) ?? []), frame.runId]);
    }
  }
  return answered;
}
