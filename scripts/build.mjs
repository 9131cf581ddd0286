// Builds dist/ (npm run build; `prepare` runs it on npm install and npm pack): ESM JavaScript and
// declarations of src/ by tsc (tsconfig.build.json; `.ts` import specifiers become `.js`), and the
// `chorus` CLI and the `chorus-server` command made executable, the Redis store's Lua scripts copied, and the viewer's browser bundle
// (src/web/viewer/, by esbuild) written to dist/web/viewer.bundle.js and .css, which the server
// serves (a packaged install has no esbuild). It builds into a fresh directory and swaps it in at the end, so a
// failed or concurrent build never leaves a half-written dist/.
// Plain JavaScript so that it runs on any Node.js (npm start does not need it: it runs src/).
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { writeViewerBundle } from './build-viewer.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const staging = `dist.build-${process.pid}`;
const retired = `dist.old-${process.pid}`;
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

try {
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', staging], {
    cwd: root,
    stdio: 'inherit',
  });
  chmodSync(`${root}/${staging}/cli/main.js`, 0o755);
  chmodSync(`${root}/${staging}/main.js`, 0o755);
  // The Redis store's Lua scripts are read at run time next to the module that registers them.
  cpSync(`${root}/src/store/lua`, `${root}/${staging}/store/lua`, { recursive: true });
  await writeViewerBundle(`${root}/${staging}/web`);
  try {
    renameSync(`${root}/dist`, `${root}/${retired}`);
  } catch (error) {
    if (error.code !== 'ENOENT') throw error;
  }
  renameSync(`${root}/${staging}`, `${root}/dist`);
} catch (error) {
  console.error(`build failed: ${error.message}`);
  process.exitCode = 1;
} finally {
  rmSync(`${root}/${staging}`, { recursive: true, force: true });
  rmSync(`${root}/${retired}`, { recursive: true, force: true });
}
