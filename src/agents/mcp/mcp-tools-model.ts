// A model client that gives the model an agent's MCP tools as their servers describe them now.
// The agent knows its MCP tools by name only (a team file lists them); before each model call
// this wrapper asks the toolset for the current specs — the server's description and JSON
// Schema — and puts them in the request in place of the names' placeholders, leaving out a tool
// its server no longer lists. Everything else passes through to the wrapped client.
import type { ModelClient, ModelEvent, ModelTurnRequest, ToolSpec } from '../model-client.ts';
import type { McpToolset } from './mcp-tools.ts';

export class McpToolsModel implements ModelClient {
  readonly id: string;
  readonly model: ModelClient;
  readonly deleteConversation?: ((conversationKey: string) => Promise<void>) | undefined;
  private readonly toolset: McpToolset;

  constructor(model: ModelClient, toolset: McpToolset) {
    this.model = model;
    this.toolset = toolset;
    this.id = model.id;
    if (model.deleteConversation) {
      this.deleteConversation = (conversationKey) => model.deleteConversation!(conversationKey);
    }
  }

  async *stream(request: ModelTurnRequest): AsyncGenerator<ModelEvent> {
    const current = await this.toolset.specs(request.signal);
    const tools: ToolSpec[] = [];
    for (const spec of request.tools ?? []) {
      if (!this.toolset.has(spec.name)) tools.push(spec);
      else {
        const resolved = current.get(spec.name);
        if (resolved) tools.push(resolved);
      }
    }
    const { tools: _placeholders, ...rest } = request;
    yield* this.model.stream(tools.length === 0 ? rest : { ...rest, tools });
  }
}
