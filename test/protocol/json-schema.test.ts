// protocol.schema.json is generated from the zod schemas; this test fails when the committed file
// drifts from them (or when the generator is not deterministic).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { clientFrameTypes, serverFrameTypes } from '../../src/protocol/frames.ts';
import {
  buildProtocolSchema,
  definitionName,
  renderProtocolSchema,
  SCHEMA_PATH,
} from '../../scripts/generate-json-schema.ts';

describe('protocol.schema.json', () => {
  it('equals a fresh generation from src/protocol/frames.ts', () => {
    const committed = readFileSync(SCHEMA_PATH, 'utf8');
    expect(committed === renderProtocolSchema(), 'protocol.schema.json is stale: run npm run schema').toBe(
      true,
    );
  });

  it('is deterministic', () => {
    expect(renderProtocolSchema()).toBe(renderProtocolSchema());
  });

  it('defines every frame of both directions, the message and its parts', () => {
    const definitions = Object.keys(buildProtocolSchema().$defs as Record<string, unknown>);
    for (const type of [...clientFrameTypes, ...serverFrameTypes]) {
      expect(definitions, `no definition for frame ${type}`).toContain(definitionName(type));
    }
    expect(definitions).toEqual(
      expect.arrayContaining(['ClientFrame', 'ServerFrame', 'Message', 'Part', 'DeltaContent']),
    );
  });

  it('refuses unknown fields in client frames and tolerates them in server frames', () => {
    const definitions = buildProtocolSchema().$defs as Record<string, { additionalProperties?: unknown }>;
    expect(definitions.PostFrame?.additionalProperties).toBe(false);
    expect(definitions.HelloFrame?.additionalProperties).toBe(false);
    expect(definitions.MessageDeltaFrame?.additionalProperties).toEqual({});
    expect(definitions.Message?.additionalProperties).toEqual({});
  });

  it('names definitions after frame types', () => {
    expect(definitionName('create-thread')).toBe('CreateThreadFrame');
    expect(definitionName('message')).toBe('MessageFrame');
  });
});
