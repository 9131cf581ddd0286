// An MCP tool result as the text a model reads. Text blocks pass as they are; images, audio and
// binary resources become a one-line description (kind, MIME type, size — never their base64
// data); embedded text resources keep their text under a header naming the URI; resource links
// name the link. With no content blocks, `structuredContent` is given as JSON. The caller cuts
// the whole to the tool's output bound.
import type { CallToolResult, ContentBlock } from '@modelcontextprotocol/sdk/types.js';

/** What `Client.callTool` resolves with: a result, or the pre-2024-11 `{ toolResult }` shape. */
export type McpCallResult = CallToolResult | { toolResult: unknown };

export interface McpResultText {
  text: string;
  isError: boolean;
}

export function mcpResultText(result: McpCallResult): McpResultText {
  if (!('content' in result)) {
    return { text: stringify(result.toolResult), isError: false };
  }
  const blocks = result.content.map(contentText).filter((text) => text !== '');
  const text =
    blocks.length === 0 && result.structuredContent !== undefined
      ? JSON.stringify(result.structuredContent)
      : blocks.join('\n');
  return { text, isError: result.isError === true };
}

function contentText(block: ContentBlock): string {
  switch (block.type) {
    case 'text':
      return block.text;
    case 'image':
    case 'audio':
      return `[${block.type}: ${block.mimeType}, ${base64Bytes(block.data)} bytes, not shown]`;
    case 'resource': {
      const { resource } = block;
      const mimeType = resource.mimeType === undefined ? '' : ` (${resource.mimeType})`;
      if ('text' in resource) return `[resource ${resource.uri}${mimeType}]\n${resource.text}`;
      return `[resource ${resource.uri}${mimeType}: ${base64Bytes(resource.blob)} bytes of binary data, not shown]`;
    }
    case 'resource_link': {
      const mimeType = block.mimeType === undefined ? '' : `, ${block.mimeType}`;
      const description = block.description === undefined ? '' : `: ${block.description}`;
      return `[resource link ${block.name} <${block.uri}>${mimeType}${description}]`;
    }
    default:
      return `[${String((block as { type?: unknown }).type)} content, not shown]`;
  }
}

/** Decoded size of base64 text, without decoding it. */
function base64Bytes(data: string): number {
  const padding = data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0;
  return Math.max(0, Math.floor((data.length * 3) / 4) - padding);
}

function stringify(value: unknown): string {
  if (typeof value === 'string') return value;
  return JSON.stringify(value) ?? '';
}
