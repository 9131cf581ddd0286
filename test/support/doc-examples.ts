// Code blocks of a Markdown document, for tests that run or typecheck a document's examples.
import { readFileSync } from 'node:fs';

export interface CodeBlock {
  /** The file name its first line gives (`// ask.ts — …`), else `example-<n>.<language>`. */
  name: string;
  code: string;
}

/** Every fenced block of `language` in the document at `path`, in order. */
export function codeBlocks(path: URL | string, language: string): CodeBlock[] {
  const text = readFileSync(path, 'utf8');
  const blocks: CodeBlock[] = [];
  const fence = new RegExp('^```' + language + '\\n([\\s\\S]*?)^```', 'gm');
  for (const match of text.matchAll(fence)) {
    const code = match[1] ?? '';
    const named = /^\/\/ ([\w.-]+\.\w+)/.exec(code);
    blocks.push({ name: named?.[1] ?? `example-${blocks.length + 1}.${language}`, code });
  }
  return blocks;
}
