// The viewer's files: its page at `<basePath>/` and the browser bundle it loads
// (`<basePath>/viewer.js`, `<basePath>/viewer.css`). A packaged install serves the bundle built by
// scripts/build.mjs into dist/web/; running from sources (npm start) builds it once in memory with
// esbuild on the first request. Every answer carries a Content-Security-Policy without inline
// scripts or styles.
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.ts';
import { renderIndexPage } from '../web/index-page.ts';

export interface WebAssetsOptions {
  basePath: string;
  teams: readonly string[];
  defaultTeam: string;
  /** The server requires a token: the viewer shows a token field. */
  authRequired: boolean;
  logger: Logger;
}

export interface ViewerBundle {
  js: string;
  css: string;
}

type Route = (request: IncomingMessage, response: ServerResponse) => Promise<void>;

const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' https: data:",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

/** Where scripts/build.mjs writes the bundle: dist/web/, next to this module's compiled form. */
const BUILT_DIRECTORY = new URL('../web/', import.meta.url);
const VIEWER_SOURCES = new URL('../web/viewer/', import.meta.url);

/** The bundle's routes, keyed by path. */
export function createWebAssets(options: WebAssetsOptions): Map<string, Route> {
  const { basePath, logger } = options;
  let bundle: Promise<ViewerBundle> | undefined;
  const loadBundle = () => {
    bundle ??= readBuiltBundle().catch(async (error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      logger.debug('viewer: no built bundle, building it from the sources');
      return buildViewerBundle();
    });
    // A failed build is tried again on the next request.
    bundle.catch(() => (bundle = undefined));
    return bundle;
  };
  const headers = (type: string) => ({
    'content-type': type,
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
  });

  const page: Route = async (_request, response) => {
    response.writeHead(200, { ...headers('text/html; charset=utf-8'), 'cache-control': 'no-cache' }).end(
      renderIndexPage({
        basePath,
        teams: options.teams,
        defaultTeam: options.defaultTeam,
        authRequired: options.authRequired,
      }),
    );
  };
  const asset =
    (kind: keyof ViewerBundle, type: string): Route =>
    async (_request, response) => {
      const text = (await loadBundle())[kind];
      response.writeHead(200, { ...headers(type), 'cache-control': 'no-cache' }).end(text);
    };

  return new Map<string, Route>([
    [`${basePath}/`, page],
    [`${basePath}/index.html`, page],
    [`${basePath}/viewer.js`, asset('js', 'text/javascript; charset=utf-8')],
    [`${basePath}/viewer.css`, asset('css', 'text/css; charset=utf-8')],
  ]);
}

async function readBuiltBundle(): Promise<ViewerBundle> {
  const [js, css] = await Promise.all([
    readFile(new URL('viewer.bundle.js', BUILT_DIRECTORY), 'utf8'),
    readFile(new URL('viewer.bundle.css', BUILT_DIRECTORY), 'utf8'),
  ]);
  return { js, css };
}

/** Bundles the viewer's sources with esbuild (a devDependency: present when running from sources). */
export async function buildViewerBundle(): Promise<ViewerBundle> {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: {
      viewer: fileURLToPath(new URL('main.ts', VIEWER_SOURCES)),
      styles: fileURLToPath(new URL('viewer.css', VIEWER_SOURCES)),
    },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: true,
    write: false,
    outdir: '/viewer-bundle',
    logLevel: 'silent',
  });
  const text = (name: string) => result.outputFiles.find((file) => file.path.endsWith(name))?.text ?? '';
  return { js: text('viewer.js'), css: text('styles.css') };
}
