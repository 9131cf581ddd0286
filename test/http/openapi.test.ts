// docs/openapi.json is generated from the `/v1` API's zod schemas; this test fails when the
// committed file drifts from them, when the served document differs from it, or when an
// operation is missing.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPENAPI_PATH, renderOpenApi } from '../../scripts/generate-openapi.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { request } from './http-client.ts';

describe('docs/openapi.json', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('equals a fresh generation from src/server/http-api/schemas.ts', () => {
    const committed = readFileSync(OPENAPI_PATH, 'utf8');
    expect(committed === renderOpenApi(), 'docs/openapi.json is stale: run npm run openapi').toBe(true);
  });

  it('is what the server serves at /v1/openapi.json', async () => {
    const served = await request(server.url, 'GET', '/v1/openapi.json');
    expect(served.body).toEqual(JSON.parse(readFileSync(OPENAPI_PATH, 'utf8')));
  });

  it('has every operation, with the frames’ field names', () => {
    const document = JSON.parse(renderOpenApi()) as {
      openapi: string;
      paths: Record<string, Record<string, { operationId?: string }>>;
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
    };
    expect(document.openapi).toBe('3.1.0');
    const operations = Object.values(document.paths).flatMap((path) =>
      Object.values(path).flatMap((operation) => (operation.operationId ? [operation.operationId] : [])),
    );
    expect(operations.sort()).toEqual(
      ['cancel', 'createThread', 'deleteThread', 'getThread', 'history', 'post', 'stream'].sort(),
    );
    const { schemas } = document.components;
    expect(Object.keys(schemas.CreateThreadRequest?.properties ?? {})).toEqual([
      'threadId',
      'team',
      'metadata',
    ]);
    expect(Object.keys(schemas.HistoryPage?.properties ?? {})).toEqual(['threadId', 'items', 'hasMore']);
    expect(Object.keys(schemas.Posted?.properties ?? {})).toEqual(
      expect.arrayContaining(['threadId', 'messageId', 'cursor', 'message']),
    );
    expect(Object.keys(schemas.Error?.properties ?? {})).toEqual([
      'code',
      'message',
      'retryable',
      'retryAfterMs',
    ]);
  });

  it('lists the statuses the server answers: 429 everywhere (every request is rate-limited), 413 where a bound can be passed', () => {
    const document = JSON.parse(renderOpenApi()) as {
      paths: Record<string, Record<string, { operationId?: string; responses?: Record<string, unknown> }>>;
    };
    const statuses = new Map(
      Object.values(document.paths).flatMap((path) =>
        Object.values(path).flatMap((operation) =>
          operation.operationId
            ? [[operation.operationId, Object.keys(operation.responses ?? {})] as const]
            : [],
        ),
      ),
    );
    for (const [operation, codes] of statuses) expect(codes, operation).toContain('429');
    for (const operation of ['createThread', 'post', 'history'])
      expect(statuses.get(operation)).toContain('413');
  });

  it("answers every operation's 129-character thread id with a status its responses list", async () => {
    const document = JSON.parse(renderOpenApi()) as {
      paths: Record<string, Record<string, { operationId?: string; responses?: Record<string, unknown> }>>;
    };
    const longId = 'x'.repeat(129);
    const answered: Array<{ operation: string; status: number; listed: string[] }> = [];
    for (const [path, item] of Object.entries(document.paths)) {
      if (!path.includes('{threadId}')) continue;
      for (const [method, operation] of Object.entries(item)) {
        if (!operation.operationId) continue; // `parameters`
        const reply = await request(
          server.url,
          method.toUpperCase(),
          `/v1${path.replace('{threadId}', longId)}`,
          {
            ...(method === 'post' ? { body: { text: 'hi' }, headers: { 'idempotency-key': 'k' } } : {}),
          },
        );
        answered.push({
          operation: operation.operationId,
          status: reply.status,
          listed: Object.keys(operation.responses ?? {}),
        });
      }
    }
    expect(answered.map((each) => each.operation).sort()).toEqual(
      ['cancel', 'deleteThread', 'getThread', 'history', 'post', 'stream'].sort(),
    );
    for (const { operation, status, listed } of answered) {
      expect({ operation, status }).toEqual({ operation, status: 413 });
      expect(listed, operation).toContain(String(status));
    }
  });
});
