#!/usr/bin/env node
// Entry point (`npm start`; `chorus-server` when installed as a package): config → app → listen; SIGTERM/SIGINT → graceful drain, then exit.
// Logs are JSON lines on stdout, or human-readable lines when stdout is a terminal; the URL to open
// is also said in plain words on stderr. With CHORUS_PROCESSES > 1 this process supervises that
// many instance processes sharing the port (server/processes.ts).
import { readFileSync } from 'node:fs';
import { createApp, displayHost, type App } from './app.ts';
import { loadConfig } from './config.ts';
import { createLogger, ignoreClosedOutput } from './log.ts';
import { isSupervisedInstance, superviseProcesses, supervisedInstanceNumber } from './server/processes.ts';

const [major] = process.versions.node.split('.').map(Number);
if ((major ?? 0) < 22) {
  console.error(`Chorus needs Node.js 22 or newer; this is ${process.version}.`);
  process.exit(1);
}

// The server is configured by its environment only; an argument is a mistake (or a question), so
// it gets an answer instead of a server starting with the defaults.
const USAGE = `usage: chorus-server (npm start) — configured by environment variables, not arguments:
  PORT=8080, REDIS_URL=redis://…, CHORUS_AUTH_SECRET=…, CHORUS_TEAM_FILE=… and the rest of
  README.md's configuration table. The client command is chorus (chorus --help).
options: -h, --help   this text
         -v, --version  the version
`;
const [argument, ...extra] = process.argv.slice(2);
if (argument === '-h' || argument === '--help' || argument === 'help') {
  process.stdout.write(USAGE);
  process.exit(0);
}
if (argument === '-v' || argument === '--version') {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version?: string;
  };
  process.stdout.write(`${manifest.version ?? 'unknown'}\n`);
  process.exit(0);
}
if (argument !== undefined) {
  process.stderr.write(
    `chorus-server: unexpected argument ${JSON.stringify([argument, ...extra].join(' '))}\n${USAGE}`,
  );
  process.exit(2);
}

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
ignoreClosedOutput();
const logger = createLogger({ level: config.logLevel, pretty: process.stdout.isTTY === true });

const announce = (port: number) => {
  const origin = `http://${displayHost(config.host)}:${port}`;
  process.stderr.write(
    `\nChorus is running: open ${origin}/ in a browser (WebSocket: ws://${origin.slice('http://'.length)}/ws). Ctrl-C stops it.\n\n`,
  );
};

if (config.processes > 1 && !isSupervisedInstance()) {
  if (!config.redisUrl) {
    console.error(
      "CHORUS_PROCESSES above 1 needs REDIS_URL: the instances share threads through Redis (the in-memory store is one process's).",
    );
    process.exit(1);
  }
  superviseProcesses({
    count: config.processes,
    logger,
    stopTimeoutMs: config.drainMs + 10_000,
    onListening: announce,
  });
} else {
  await runInstance();
}

async function runInstance(): Promise<void> {
  const instanceNumber = supervisedInstanceNumber();
  const instanceConfig =
    instanceNumber !== undefined && config.instanceId !== undefined
      ? { ...config, instanceId: `${config.instanceId}-${instanceNumber}` }
      : config;
  // Signals are handled from the start: a SIGTERM that comes while the instance is starting (it
  // may already have logged that it listens) drains it once started, rather than killing it.
  let app: App | undefined;
  let started: Promise<unknown> = Promise.resolve();
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    started
      .then(() => app?.shutdown())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    app = await createApp({ config: instanceConfig, logger });
    const starting = app.start();
    started = starting;
    const port = await starting;
    if (instanceNumber === undefined && !stopping) announce(port);
  } catch (error) {
    logger.fatal(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}
