// The container image's /app, as the Dockerfile lays it out, rebuilt here (there is no Docker
// engine on CI): src/ and package.json, the production dependencies only — esbuild, a dev
// dependency, is not there — and the viewer bundle that the Dockerfile's `viewer` stage builds with
// scripts/build-viewer.mjs and copies into src/web/. The instance runs with NODE_ENV=production and
// must serve the viewer page and its bundle; without the bundle the same layout fails (the image
// once served /viewer.js as 500).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnServer, type SpawnedServer } from '../support/server.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const DEV_ONLY = new Set(['esbuild', '@esbuild']);

/** /app as the image has it: sources, package.json, dependencies without the esbuild packages. */
function imageLayout(): string {
  const app = mkdtempSync(join(tmpdir(), 'chorus-image-'));
  cpSync(join(root, 'src'), join(app, 'src'), { recursive: true });
  cpSync(join(root, 'package.json'), join(app, 'package.json'));
  mkdirSync(join(app, 'node_modules'));
  for (const name of readdirSync(join(root, 'node_modules'))) {
    if (!DEV_ONLY.has(name)) symlinkSync(join(root, 'node_modules', name), join(app, 'node_modules', name));
  }
  return app;
}

async function statuses(server: SpawnedServer): Promise<Record<string, number>> {
  const result: Record<string, number> = {};
  for (const path of ['/', '/viewer.js', '/viewer.css'])
    result[path] = (await fetch(`${server.url}${path}`)).status;
  return result;
}

describe('the container image layout', () => {
  const made: string[] = [];
  afterAll(() => {
    for (const directory of made) rmSync(directory, { recursive: true, force: true });
  });
  const production = { NODE_ENV: 'production', CHORUS_INSECURE: '1' } as const;

  it('has the Dockerfile build the viewer bundle in a stage of its own and copy it next to the sources', () => {
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^RUN node scripts\/build-viewer\.mjs src\/web$/m);
    expect(dockerfile).toMatch(
      /^COPY --from=viewer --chown=root:root \/app\/src\/web\/viewer\.bundle\.js \/app\/src\/web\/viewer\.bundle\.css \.\/src\/web\/$/m,
    );
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev /m);
  });

  it('serves the viewer with the bundle the viewer stage builds, and fails without it', async () => {
    const bare = imageLayout();
    made.push(bare);
    const without = await spawnServer(production, 15_000, { cwd: bare });
    try {
      expect(await statuses(without)).toEqual({ '/': 200, '/viewer.js': 500, '/viewer.css': 500 });
    } finally {
      without.kill('SIGTERM');
      await without.exited;
    }

    const app = imageLayout();
    made.push(app);
    execFileSync(process.execPath, [join(root, 'scripts/build-viewer.mjs'), join(app, 'src/web')], {
      cwd: root,
      stdio: 'pipe',
      timeout: 60_000,
    });
    const server = await spawnServer(production, 15_000, { cwd: app });
    try {
      expect(await statuses(server)).toEqual({ '/': 200, '/viewer.js': 200, '/viewer.css': 200 });
      const bundle = await (await fetch(`${server.url}/viewer.js`)).text();
      expect(bundle.length).toBeGreaterThan(10_000);
      expect(bundle).toBe(readFileSync(join(app, 'src/web/viewer.bundle.js'), 'utf8'));
    } finally {
      server.kill('SIGTERM');
      await server.exited;
    }
  });
});
