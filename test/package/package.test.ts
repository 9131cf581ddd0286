// The package as a user gets it: `npm pack` (its `prepare` builds dist/), then the tarball installed
// into a new project (`npm ci` of a lockfile that names the tarball and, for its dependencies, the
// versions of this repository's package-lock.json — so that the install reads npm's cache, which the
// repository's own install filled, rather than waiting on the registry; then `npm ci
// --ignore-scripts --offline` from that lockfile) and used from there on Node 22+: the library, the embedded server and the client SDK run; the
// declarations are real (a wrong call is a type error); the `chorus` command runs; docs/client.md's
// examples typecheck against the published types. Packed once per run.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanupPrefix, uniquePrefix } from '../support/redis.ts';
import { codeBlocks } from '../support/doc-examples.ts';

const repositoryRoot = fileURLToPath(new URL('../..', import.meta.url));
const tsc = join(repositoryRoot, 'node_modules/typescript/bin/tsc');
/**
 * One command's bound, below its hook's so that a hung step fails with its name and output. npm's own
 * fetch timeout is 5 minutes: installs pass a shorter one, so a stalled registry request is retried.
 */
const COMMAND_TIMEOUT_MS = 150_000;
const SETUP_TIMEOUT_MS = 2 * COMMAND_TIMEOUT_MS + 30_000;
const NPM_FETCH = ['--fetch-timeout=30000', '--fetch-retries=4'];

/** Runs a command with only PATH and HOME from this environment (no npm_* variables of a parent npm). */
function exec(
  command: string,
  args: readonly string[],
  cwd: string,
  extraEnv: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(
      command,
      [...args],
      {
        cwd,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...extraEnv },
        timeout: COMMAND_TIMEOUT_MS,
        maxBuffer: 32 * 1024 * 1024,
      },
      (error, stdout, stderr) =>
        error
          ? reject(
              new Error(
                `${command} ${args.join(' ')} (in ${cwd}) failed after ${Math.round(performance.now() - started)} ms: ${error.message}\n${stdout}\n${stderr}`,
              ),
            )
          : resolve({ stdout, stderr }),
    );
  });
}

const CONSUMER_PACKAGE = {
  name: 'chorus-consumer',
  private: true,
  type: 'module',
  // A tarball's lifecycle scripts do not run on install; npm 11 still lists its `prepare`.
  allowScripts: { chorus: false },
};

interface LockEntry {
  version?: string;
  dev?: boolean;
  devOptional?: boolean;
  [field: string]: unknown;
}

/**
 * The consumer's package.json and package-lock.json: `chorus` from `tarball`, and its dependency
 * tree as this repository's lockfile has it (every entry that is not for development only).
 */
async function consumerFiles(tarball: string): Promise<{ manifest: object; lockfile: object }> {
  const lock = JSON.parse(await readFile(join(repositoryRoot, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const root = lock.packages['']!;
  const integrity = `sha512-${createHash('sha512')
    .update(await readFile(tarball))
    .digest('base64')}`;
  const dependencies = { chorus: `file:${tarball}` };
  const packages: Record<string, unknown> = {
    '': { name: CONSUMER_PACKAGE.name, dependencies },
    'node_modules/chorus': {
      version: root.version,
      resolved: `file:${tarball}`,
      integrity,
      license: root.license,
      dependencies: root.dependencies,
      bin: root.bin,
      engines: root.engines,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path.startsWith('node_modules/') && !entry.dev && !entry.devOptional) packages[path] = entry;
  }
  return {
    manifest: { ...CONSUMER_PACKAGE, dependencies },
    lockfile: { name: CONSUMER_PACKAGE.name, lockfileVersion: 3, requires: true, packages },
  };
}

/** Uses all three entries of the installed package and prints what happened as one JSON line. */
const CHECK_PROGRAM = `
import http from 'node:http';
import { ChatCompletionAgent } from 'chorus';
import { ChorusClient } from 'chorus/client';
import { createChorusServer, silentLogger } from 'chorus/server';

const agent = new ChatCompletionAgent({
  name: 'Host',
  instructions: 'Answer.',
  model: { provider: 'demo' },
  env: { CHORUS_DEMO_TOKENS_PER_SECOND: '0' },
});
let answer = '';
for await (const item of agent.invokeStream('Hello')) answer += item.content;

// On Redis when the test gives one: the store's Lua scripts must have been packed.
const chorus = await createChorusServer({
  env: {
    CHORUS_DEMO_TOKENS_PER_SECOND: '0',
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL, CHORUS_REDIS_PREFIX: process.env.CHORUS_REDIS_PREFIX } : {}),
  },
  logger: silentLogger,
});
const server = http.createServer((request, response) => {
  if (!chorus.handleRequest(request, response)) response.writeHead(418).end('the host app');
});
server.on('upgrade', (request, socket, head) => {
  if (!chorus.handleUpgrade(request, socket, head)) socket.destroy();
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = 'http://127.0.0.1:' + server.address().port;
const health = (await fetch(origin + '/healthz')).status;
const host = (await fetch(origin + '/elsewhere')).status;

const client = new ChorusClient({ url: origin.replace('http', 'ws') + '/ws', user: 'consumer' });
const { threadId } = await client.createThread();
const thread = client.thread(threadId);
const ended = thread.once('run-end');
await thread.post('Plan a picnic').done;
const end = await ended;
client.close();
await chorus.close({ drainMs: 0 });
server.close();
console.log(JSON.stringify({ answer, health, host, reason: end.reason, authors: thread.messages.map((item) => item.author) }));
`;

/** Compiles against the published declarations; each @ts-expect-error proves a type is not `any`. */
const TYPES_PROGRAM = `
import { ChatCompletionAgent, McpServerPool, type McpToolAllowList, type Message } from 'chorus';
import { ChorusClient, type ThreadItem } from 'chorus/client';
import { createChorusServer, type ChorusServer } from 'chorus/server';

const client = new ChorusClient({ url: 'ws://localhost:8080/ws' });
const items: ThreadItem[] = client.thread('t').items();
const server: Promise<ChorusServer> = createChorusServer({ basePath: '/chorus' });
const messages: Message[] = [];
const mcpTools: McpToolAllowList = { files: ['read_text_file'] };
const agent = new ChatCompletionAgent({
  name: 'a',
  instructions: 'i',
  model: { provider: 'demo' },
  mcpServers: new McpServerPool({ files: { command: 'node', args: ['server.js'] } }),
  mcpTools,
});
export const used = [items, server, messages, agent];
// @ts-expect-error an MCP server's args are strings
new McpServerPool({ files: { command: 'node', args: [1] } });
// @ts-expect-error url is a string
new ChorusClient({ url: 42 });
// @ts-expect-error basePath is a string
void createChorusServer({ basePath: 7 });
// @ts-expect-error status is a closed vocabulary
const wrong: ThreadItem['status'] = 'exploded';
export { wrong };
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'es2023',
    lib: ['es2023', 'dom'],
    module: 'nodenext',
    moduleResolution: 'nodenext',
    strict: true,
    // What `tsc --init` turns on (TypeScript 5.9): a consumer passing `{ thread }` with `thread`
    // possibly undefined must typecheck, so the declarations say `| undefined` on optional fields.
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    noEmit: true,
    skipLibCheck: true,
    // The consumer's own: the package brings @types/ws (its declarations import it) and with it @types/node.
    types: ['node'],
  },
  include: ['*.ts'],
};

describe('the packed package, installed in a new project', () => {
  let directory: string;
  let tarball: string;
  let consumer: string;
  let files: string[];

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'chorus-package-'));
    const packed = await exec('npm', ['pack', '--json', '--pack-destination', directory], repositoryRoot);
    const [summary] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as [
      { filename: string; files: { path: string }[] },
    ];
    tarball = join(directory, summary.filename);
    files = summary.files.map((file) => file.path);
    consumer = join(directory, 'consumer');
    await mkdir(consumer);
    const { manifest, lockfile } = await consumerFiles(tarball);
    await writeFile(join(consumer, 'package.json'), JSON.stringify(manifest, null, 2));
    await writeFile(join(consumer, 'package-lock.json'), JSON.stringify(lockfile, null, 2));
    await exec('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund', ...NPM_FETCH], consumer);
  }, SETUP_TIMEOUT_MS);

  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it('packs the built JavaScript, its declarations and the docs — not the sources or tests', () => {
    for (const path of [
      'dist/index.js',
      'dist/index.d.ts',
      'dist/client/index.js',
      'dist/client/index.d.ts',
      'dist/server/index.js',
      'dist/server/index.d.ts',
      'dist/cli/main.js',
      'dist/store/lua/prelude.lua',
      'dist/store/lua/post.lua',
      'dist/web/viewer.bundle.js',
      'dist/web/viewer.bundle.css',
      'protocol.md',
      'protocol.schema.json',
      'docs/client.md',
      'README.md',
      'package.json',
    ])
      expect(files, path).toContain(path);
    expect(
      files.filter(
        (path) =>
          /^(src|test|bench|scripts)\//.test(path) || (path.endsWith('.ts') && !path.endsWith('.d.ts')),
      ),
    ).toEqual([]);
  });

  it('runs the library, the embedded server and the client from the installed package', async () => {
    await writeFile(join(consumer, 'check.mjs'), CHECK_PROGRAM);
    const prefix = uniquePrefix('package');
    const { stdout } = await exec(process.execPath, ['check.mjs'], consumer, {
      REDIS_URL: inject('redisUrl'),
      CHORUS_REDIS_PREFIX: prefix,
    });
    await cleanupPrefix(inject('redisUrl'), prefix);
    const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    expect(result).toMatchObject({ health: 200, host: 418, reason: 'terminated' });
    expect(String(result.answer).length).toBeGreaterThan(10);
    expect(result.authors).toEqual(expect.arrayContaining(['consumer', 'planner', 'writer', 'reviewer']));
  });

  it('has declarations for every entry, and the examples of docs/client.md, README.md and docs/library.md typecheck against them (with tsc --init’s strictness)', async () => {
    await writeFile(join(consumer, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
    await writeFile(join(consumer, 'types.ts'), TYPES_PROGRAM);
    const examples = [
      ...codeBlocks(new URL('../../docs/client.md', import.meta.url), 'ts'),
      // The README's and docs/library.md's examples, the library ones (which import
      // ../src/index.ts, to run in this repository) pointed at the package.
      ...codeBlocks(new URL('../../README.md', import.meta.url), 'ts'),
      ...codeBlocks(new URL('../../docs/library.md', import.meta.url), 'ts'),
    ].filter((block) => /from '(chorus|\.\.\/src\/index\.ts)/.test(block.code));
    expect(examples.map((example) => example.name)).toEqual(expect.arrayContaining(['ask.ts', 'embed.ts']));
    for (const [index, example] of examples.entries()) {
      await writeFile(
        join(consumer, `${index}-${example.name}`),
        example.code.replaceAll("from '../src/index.ts'", "from 'chorus'"),
      );
    }
    await exec(process.execPath, [tsc, '-p', '.'], consumer);
  });

  /** Starts `command` in the consumer; resolves with the origin it says it listens on. */
  const launch = async (
    command: string,
    args: string[],
    listening: RegExp,
    env: Record<string, string> = {},
  ) => {
    const child = spawn(command, args, {
      cwd: consumer,
      env: { PATH: process.env.PATH ?? '', PORT: '0', CHORUS_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    let output = '';
    const origin = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${command} did not listen: ${output}`)), 20_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const match = listening.exec(output);
        if (match?.[1]) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      void exited.then((code) => reject(new Error(`${command} exited (${code}): ${output}`)));
    });
    const stop = async () => {
      child.kill('SIGTERM');
      return exited;
    };
    return { origin, stop };
  };

  it("runs the README's embedding example (embed.ts) from the installed package", async () => {
    const example = codeBlocks(new URL('../../README.md', import.meta.url), 'ts').find(
      (block) => block.name === 'embed.ts',
    );
    if (!example) throw new Error('README.md has no embed.ts example');
    await writeFile(join(consumer, 'embed.ts'), example.code);
    const { origin, stop } = await launch(
      process.execPath,
      ['embed.ts'],
      /listening on (http:\/\/localhost:\d+)\/chorus\//,
    );
    try {
      expect((await fetch(`${origin}/chorus/healthz`)).status).toBe(200);
      expect(await (await fetch(`${origin}/chorus/`)).text()).toMatch(/<html/);
      // The viewer's bundle, built into the tarball (the installed package has no esbuild).
      expect(await (await fetch(`${origin}/chorus/viewer.js`)).text()).toContain('chorus.v1');
      expect(await (await fetch(`${origin}/`)).text()).toBe('the rest of your app\n');
    } finally {
      expect(await stop()).toBe(0);
    }
  });

  it('installs the chorus command, and chorus-server, which serves as npm start does', async () => {
    const { stdout } = await exec(join(consumer, 'node_modules/.bin/chorus'), ['--help'], consumer);
    expect(stdout).toMatch(/^Usage: chorus <command>/);
    const { origin, stop } = await launch(
      join(consumer, 'node_modules/.bin/chorus-server'),
      [],
      /Chorus is running: open (http:\/\/[^/\s]+)\//,
      { HOST: '127.0.0.1' },
    );
    try {
      expect((await fetch(`${origin}/healthz`)).status).toBe(200);
      expect(await (await fetch(`${origin}/viewer.js`)).text()).toContain('chorus.v1');
    } finally {
      expect(await stop()).toBe(0);
    }
  });

  it('works when installed with --ignore-scripts (the tarball holds the build)', async () => {
    const second = join(directory, 'ignore-scripts');
    await mkdir(second);
    for (const name of ['package.json', 'package-lock.json'])
      await cp(join(consumer, name), join(second, name));
    await exec('npm', ['ci', '--ignore-scripts', '--offline', '--no-audit', '--no-fund'], second);
    expect(await readdir(join(second, 'node_modules/chorus/dist'))).toContain('index.js');
    const { stdout } = await exec(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const [library, client, server] = await Promise.all([import('chorus'), import('chorus/client'), import('chorus/server')]); console.log(typeof library.AgentGroupChat, typeof client.ChorusClient, typeof server.createChorusServer);",
      ],
      second,
    );
    expect(stdout.trim()).toBe('function function function');
  });
});
