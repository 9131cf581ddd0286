// `chorus/client` is browser-safe: esbuild bundles it for platform 'browser' (an import of a Node
// built-in fails that build), and the bundle refers to no Node global.
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const entry = fileURLToPath(new URL('../../src/client/index.ts', import.meta.url));

describe('the client SDK in a browser bundle', () => {
  it('bundles for the browser without Node built-ins or globals', async () => {
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    expect(result.errors).toEqual([]);
    const inputs = Object.keys(result.metafile.inputs);
    expect(
      inputs.filter((input) => input.startsWith('node:') || input.includes('/node_modules/ws/')),
    ).toEqual([]);
    // Nothing of the server's zod schemas: the SDK imports their types only.
    expect(inputs.filter((input) => input.includes('/node_modules/zod/'))).toEqual([]);
    const code = result.outputFiles[0]?.text ?? '';
    expect(code).not.toMatch(/\bprocess\.|\brequire\(|\bBuffer\b/);
    expect(code).toContain('chorus.v1');
    expect(code.length).toBeLessThan(80_000);
  });
});
