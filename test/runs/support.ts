// What the run-layer window tests share: a model the test can hold mid-message, a one-agent team on
// it, servers whose store is wrapped in the fault injector, and readers of what a viewer saw.
import { Agent } from '../../src/agents/agent.ts';
import { GroupChat } from '../../src/agents/group-chat.ts';
import { SequentialSelection } from '../../src/agents/selection/sequential.ts';
import type { ModelClient, ModelEvent, ModelTurnRequest } from '../../src/agents/model-client.ts';
import type { MultitaskPolicy, Team } from '../../src/teams/team.ts';
import { TeamRegistry } from '../../src/teams/team.ts';
import { FaultyStore } from '../support/faulty-store.ts';
import { cleanupPrefix, uniquePrefix } from '../support/redis.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { connect, type Frame, type FrameOf, type TestClient } from '../support/ws-client.ts';

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
  /** Turns stopped before their end: aborted (a cancel) or no longer read (an early turn dropped). */
  stopped = 0;
  private callWaiters: { count: number; resolve: () => void }[] = [];

  /** Resolves once the model has been called `count` times in all (at once if it has). */
  called(count: number): Promise<void> {
    if (this.contexts.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.callWaiters.push({ count, resolve }));
  }
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
    let ended = false;
    try {
      yield* this.turn(request);
      ended = true;
    } finally {
      if (!ended) this.stopped += 1;
    }
  }

  private async *turn(request: ModelTurnRequest): AsyncGenerator<ModelEvent> {
    const texts = request.messages.map((message) => message.text);
    this.contexts.push(texts);
    for (const waiter of this.callWaiters.filter((each) => this.contexts.length >= each.count)) {
      this.callWaiters.splice(this.callWaiters.indexOf(waiter), 1);
      waiter.resolve();
    }
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
  return teamOfOne(agent, model, multitask, queueMax);
}

/** A team named `solo` whose one agent (on `model`) has one turn per run. */
export function teamOfOne(
  agent: Agent,
  model: ModelClient,
  multitask: MultitaskPolicy = 'queue',
  queueMax?: number,
): TeamRegistry {
  const team: Team = {
    name: 'solo',
    description: 'one agent that answers once',
    agentNames: [agent.name],
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

export type StoreKind = 'memory' | 'redis';

/** A server of a window test: its store wrapped in the fault injector, its team on `model`. */
export interface WindowInstance {
  server: TestServer;
  faults: FaultyStore;
  model: ControlledModel;
}

/**
 * The servers, clients and Redis prefixes of a window test on one kind of store; `close()` after
 * each test ends them all. Instances on Redis get a prefix of their own unless given one (two
 * instances of one cluster share a prefix).
 */
export class WindowInstances {
  private readonly servers: TestServer[] = [];
  private readonly clients: TestClient[] = [];
  private readonly prefixes: string[] = [];

  readonly kind: StoreKind;
  private readonly redisUrl: string;

  constructor(kind: StoreKind, redisUrl: string) {
    this.kind = kind;
    this.redisUrl = redisUrl;
  }

  newPrefix(name = 'windows'): string {
    const prefix = uniquePrefix(name);
    this.prefixes.push(prefix);
    return prefix;
  }

  async instance(
    options: {
      prefix?: string;
      multitask?: MultitaskPolicy;
      teams?: (model: ControlledModel) => TeamRegistry;
      env?: Record<string, string>;
    } = {},
  ): Promise<WindowInstance> {
    const model = new ControlledModel();
    const faults: { current?: FaultyStore } = {};
    const storeEnv: Record<string, string> =
      this.kind === 'redis'
        ? { REDIS_URL: this.redisUrl, CHORUS_REDIS_PREFIX: options.prefix ?? this.newPrefix() }
        : {};
    const server = await startServer(
      { CHORUS_POST_RATE: '0', ...storeEnv, ...options.env },
      {
        teams: options.teams ? options.teams(model) : soloTeams(model, options.multitask),
        wrapStore: (store) => {
          faults.current = new FaultyStore(store);
          return faults.current.store;
        },
      },
    );
    this.servers.push(server);
    return { server, faults: faults.current!, model };
  }

  async open(on: WindowInstance, user = 'ada'): Promise<TestClient> {
    const client = await connect(on.server.wsUrl, { hello: { user } });
    this.clients.push(client);
    return client;
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((client) => client.close()));
    await Promise.all(this.servers.splice(0).map((server) => server.close()));
    for (const prefix of this.prefixes.splice(0)) await cleanupPrefix(this.redisUrl, prefix);
  }
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
