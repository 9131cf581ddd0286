// The Lua scripts of the Redis store (src/store/lua/*.lua), registered on a client with ioredis
// `defineCommand`, which runs them with EVALSHA and falls back to EVAL after a restart or a
// SCRIPT FLUSH, on one server and on a Cluster alike. Thread scripts get prelude.lua prepended and
// every key of one thread (all in its Cluster slot); index scripts get the sweep index only.
import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';

export const threadScriptNames = [
  'create-thread',
  'delete-thread',
  'announce-lost-thread',
  'find-by-client-message-id',
  'set-thread-value',
  'read-after',
  'read-latest',
  'read-before',
  'current-run',
  'import-messages',
  'post',
  'acquire-lease',
  'renew-lease',
  'release-lease',
  'start-run',
  'publish-run-events',
  'end-message',
  'finish-run',
  'recover-run',
  'request-cancel',
  'run-state',
  'run-record',
] as const;
export type ThreadScriptName = (typeof threadScriptNames)[number];

export const indexScriptNames = ['sweep-mark', 'sweep-claim', 'sweep-forget'] as const;
export type IndexScriptName = (typeof indexScriptNames)[number];

/** How many keys a thread script declares (redis-keys.ts `threadScriptKeys`). */
export const THREAD_SCRIPT_KEY_COUNT = 11;
/** … and the scripts of a running run, sent for every delta: meta, lease, run, live, live seq, history. */
export const HOT_SCRIPT_KEY_COUNT = 6;
const HOT_SCRIPTS: ReadonlySet<ThreadScriptName> = new Set([
  'publish-run-events',
  'end-message',
  'renew-lease',
  'request-cancel',
]);

function keyCount(name: ThreadScriptName): number {
  return HOT_SCRIPTS.has(name) ? HOT_SCRIPT_KEY_COUNT : THREAD_SCRIPT_KEY_COUNT;
}

type ScriptCommand = (...args: (string | number)[]) => Promise<unknown>;

function readScript(name: string): string {
  return readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
}

/** `post` → `chorusPost`: command names that no Redis command will ever take. */
function commandName(name: string): string {
  return `chorus${name.replace(/(^|-)([a-z])/g, (_match, _dash: string, letter: string) => letter.toUpperCase())}`;
}

let sources: Map<string, string> | undefined;

/** Every script's full source, read once per process. */
export function scriptSources(): Map<string, string> {
  if (!sources) {
    const prelude = readScript('prelude');
    sources = new Map();
    for (const name of threadScriptNames) sources.set(name, `${prelude}\n${readScript(name)}`);
    for (const name of indexScriptNames) sources.set(name, readScript(name));
  }
  return sources;
}

export class RedisScripts {
  private readonly client: Redis | Cluster;

  constructor(client: Redis | Cluster) {
    this.client = client;
    const all = scriptSources();
    for (const name of threadScriptNames) {
      client.defineCommand(commandName(name), { numberOfKeys: keyCount(name), lua: all.get(name)! });
    }
    for (const name of indexScriptNames) {
      client.defineCommand(commandName(name), { numberOfKeys: 1, lua: all.get(name)! });
    }
  }

  /** Runs a thread script: `keys` are the thread's script keys, `args` follow the channel arguments. */
  thread(
    name: ThreadScriptName,
    keys: readonly string[],
    channel: string,
    publishCommand: string,
    args: readonly (string | number)[],
  ): Promise<unknown> {
    return this.command(name)(...keys.slice(0, keyCount(name)), channel, publishCommand, ...args);
  }

  index(name: IndexScriptName, key: string, args: readonly (string | number)[]): Promise<unknown> {
    return this.command(name)(key, ...args);
  }

  private command(name: string): ScriptCommand {
    const command: unknown = Reflect.get(this.client, commandName(name));
    if (typeof command !== 'function') throw new Error(`script ${name} is not registered`);
    return (...args) => (command as ScriptCommand).apply(this.client, args);
  }
}
