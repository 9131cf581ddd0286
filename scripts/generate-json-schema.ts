// Generates protocol.schema.json from the zod schemas in src/protocol/frames.ts (the single source
// of truth): every client frame as the server accepts it, every server frame and the message
// object as the server sends them. Deterministic (same schemas → same bytes), so that a test can
// check the committed file for drift. Run with `npm run schema`.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { SUBPROTOCOL } from '../src/protocol/codes.ts';
import {
  Annotation,
  ClientFrame,
  DeltaContent,
  FileReference,
  Message,
  Part,
  ServerFrame,
  Usage,
} from '../src/protocol/frames.ts';

export const SCHEMA_PATH = fileURLToPath(new URL('../protocol.schema.json', import.meta.url));

type JsonObject = { [key: string]: unknown };

/** `create-thread` → `CreateThreadFrame`: the $defs name of one frame type. */
export function definitionName(frameType: string): string {
  const pascal = frameType
    .split('-')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
  return `${pascal}Frame`;
}

/**
 * One direction's schemas as JSON Schema definitions, referring to each other by `#/$defs/<name>`.
 * `io: 'input'` describes what the server accepts, `'output'` what it sends.
 */
function definitions(
  entries: ReadonlyArray<readonly [string, z.ZodType]>,
  io: 'input' | 'output',
): JsonObject {
  const registry = z.registry<{ id: string }>();
  for (const [name, schema] of entries) registry.add(schema, { id: name });
  const { schemas } = z.toJSONSchema(registry, {
    io,
    uri: (name) => `#/$defs/${name}`,
    target: 'draft-2020-12',
  });
  const result: JsonObject = {};
  for (const [name] of entries) {
    const generated = schemas[name];
    if (!generated) throw new Error(`zod produced no JSON Schema for ${name}`);
    // One `$schema` for the whole document; a `$id` per definition would make each its own resource.
    const { $schema: _schema, $id: _id, ...definition } = generated;
    result[name] = definition;
  }
  return result;
}

function frameEntries(union: typeof ClientFrame | typeof ServerFrame): Array<readonly [string, z.ZodType]> {
  return union.options.map((option) => [definitionName(option.shape.type.value), option] as const);
}

/** The whole protocol.schema.json document. */
export function buildProtocolSchema(): JsonObject {
  const client = definitions([['ClientFrame', ClientFrame], ...frameEntries(ClientFrame)], 'input');
  const server = definitions(
    [
      ['ServerFrame', ServerFrame],
      ...frameEntries(ServerFrame),
      ['Message', Message],
      ['Part', Part],
      ['DeltaContent', DeltaContent],
      ['Annotation', Annotation],
      ['FileReference', FileReference],
      ['Usage', Usage],
    ],
    'output',
  );
  for (const name of Object.keys(client)) {
    if (name in server) throw new Error(`definition ${name} exists in both directions`);
  }
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: `Chorus wire protocol v1 (${SUBPROTOCOL})`,
    description:
      'Generated from src/protocol/frames.ts by `npm run schema`; do not edit. protocol.md is the contract in prose. ' +
      'ClientFrame: what a client sends (strict: unknown fields are refused). ServerFrame: what the server sends ' +
      '(open: clients must ignore fields they do not know).',
    anyOf: [{ $ref: '#/$defs/ClientFrame' }, { $ref: '#/$defs/ServerFrame' }],
    $defs: { ...client, ...server },
  };
}

/** The file's exact text: two-space JSON with a final newline. */
export function renderProtocolSchema(): string {
  return `${JSON.stringify(buildProtocolSchema(), null, 2)}\n`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(SCHEMA_PATH, renderProtocolSchema());
  console.log(`wrote ${SCHEMA_PATH}`);
}
