// Writes docs/openapi.json, the OpenAPI 3.1 document of the `/v1` API generated from its zod
// schemas (src/server/http-api/openapi.ts), as the server serves it at `/v1/openapi.json` with
// no base path. `npm run openapi`; test/http/openapi.test.ts fails when the file is stale.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openApiDocument } from '../src/server/http-api/openapi.ts';

export const OPENAPI_PATH = fileURLToPath(new URL('../docs/openapi.json', import.meta.url));

export function renderOpenApi(): string {
  return `${JSON.stringify(openApiDocument(''), null, 2)}\n`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(OPENAPI_PATH, renderOpenApi());
  console.log(`wrote ${OPENAPI_PATH}`);
}
