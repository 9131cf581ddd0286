// Writes the viewer's browser bundle (viewer.bundle.js and viewer.bundle.css) into a directory:
// dist/web/ for the package (scripts/build.mjs), src/web/ in the container image, whose runtime has
// no esbuild. The server serves a bundle it finds next to its modules and builds one from the
// sources only when there is none (npm start).
//
//   node scripts/build-viewer.mjs <directory>
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The bundle, made by the same esbuild call the server uses from sources. */
export async function writeViewerBundle(directory) {
  const { buildViewerBundle } = await import('../src/server/web-assets.ts');
  const bundle = await buildViewerBundle();
  if (!bundle.js || !bundle.css) throw new Error('the viewer bundle came out empty');
  mkdirSync(directory, { recursive: true });
  writeFileSync(`${directory}/viewer.bundle.js`, bundle.js);
  writeFileSync(`${directory}/viewer.bundle.css`, bundle.css);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const directory = process.argv[2];
  if (!directory) {
    console.error('usage: node scripts/build-viewer.mjs <directory>');
    process.exit(2);
  }
  await writeViewerBundle(resolve(directory));
}
