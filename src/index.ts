// The package's library entry (`import { ChatCompletionAgent, AgentGroupChat } from 'chorus'`):
// the library API, the agents and strategies it is built from, the model clients and the protocol
// types. The server starts from src/main.ts; the client SDK is `chorus/client`.

// Library API.
export * from './library/index.ts';

// Agents and the group chat.
export { Agent, addUsage } from './agents/agent.ts';
export type { AgentOptions, AgentTurnEvent, AgentTurnOptions, AgentTurnResult } from './agents/agent.ts';
export { GroupChat, RunAbort } from './agents/group-chat.ts';
export type {
  GroupChatEvent,
  GroupChatOptions,
  GroupChatRunOptions,
  SelectionContext,
  SelectionStrategy,
  TerminationContext,
  TerminationDecision,
  TerminationStrategy,
} from './agents/group-chat.ts';
export { defineTool } from './agents/tools.ts';
export type { Tool, ToolContext, ToolDefinition, ToolOutcome } from './agents/tools.ts';

// MCP servers whose tools agents call (`mcpServers` + `mcpTools`, as in a team file).
export { McpServerPool } from './agents/mcp/mcp-server-pool.ts';
export type { McpServerPoolOptions } from './agents/mcp/mcp-server-pool.ts';
export { McpServerSpec } from './agents/mcp/mcp-server-spec.ts';
export type { McpToolAllowList } from './agents/mcp/mcp-tools.ts';

// Selection strategies.
export { SequentialSelection } from './agents/selection/sequential.ts';
export type { SequentialSelectionOptions } from './agents/selection/sequential.ts';
export { MentionSelection } from './agents/selection/mention.ts';
export type { MentionSelectionOptions } from './agents/selection/mention.ts';
export { LlmSelection, parseAgentName } from './agents/selection/llm-selector.ts';
export type { LlmSelectionDecision, LlmSelectionOptions } from './agents/selection/llm-selector.ts';
export { FunctionSelection } from './agents/selection/function.ts';
export type { SelectionFunction } from './agents/selection/function.ts';

// Termination strategies.
export { TerminationDetail } from './agents/termination/detail.ts';
export { MaxIterationsTermination } from './agents/termination/max-iterations.ts';
export { TextMentionTermination } from './agents/termination/text-mention.ts';
export type { TextMentionTerminationOptions } from './agents/termination/text-mention.ts';
export { RegexTermination } from './agents/termination/regex.ts';
export type { RegexTerminationOptions } from './agents/termination/regex.ts';
export { LlmJudgeTermination, parseVerdict } from './agents/termination/llm-judge.ts';
export type { LlmJudgeTerminationOptions, Verdict } from './agents/termination/llm-judge.ts';
export { TokenBudgetTermination } from './agents/termination/token-budget.ts';
export type { TokenBudgetTerminationOptions } from './agents/termination/token-budget.ts';
export { TimeoutTermination } from './agents/termination/timeout.ts';
export type { TimeoutTerminationOptions } from './agents/termination/timeout.ts';
export { ExternalTermination } from './agents/termination/external.ts';
export { FunctionTermination } from './agents/termination/function.ts';
export type { TerminationFunction } from './agents/termination/function.ts';
export { AllTermination, AnyTermination, allOf, anyOf } from './agents/termination/combination.ts';

// Model clients.
export { ModelError, RequestError, StoreError } from './errors.ts';
export type { ModelClient, ModelEvent, ModelTurnRequest, ToolSpec } from './agents/model-client.ts';
export { DemoModel } from './agents/demo-model.ts';
export type { DemoModelOptions } from './agents/demo-model.ts';
export { OpenAIChatModel } from './agents/openai-chat-model.ts';
export type { OpenAIChatModelOptions } from './agents/openai-chat-model.ts';
export { OpenAIResponsesModel } from './agents/openai-responses-model.ts';
export type { OpenAIResponsesModelOptions } from './agents/openai-responses-model.ts';
export { createModelClient, ModelSpec } from './agents/model-factory.ts';
export type { ModelFactoryShared } from './agents/model-factory.ts';
export { InMemoryConversationState } from './agents/remote-conversation-state.ts';
export type { RemoteConversationState } from './agents/remote-conversation-state.ts';

// Teams and team files.
export { createDemoTeam, TeamRegistry } from './teams/team.ts';
export type { MultitaskPolicy, Team } from './teams/team.ts';
export { parseTeamFile, loadTeamFile, TeamFileError } from './teams/team-file.ts';
export type {
  LoadedTeamFile,
  SelectionSpec,
  TeamDefinition,
  TeamFile,
  TeamFileIssue,
  TerminationSpec,
} from './teams/team-file.ts';
export { buildTeam, buildTeams } from './teams/build-team.ts';
export type { TeamBuildOptions } from './teams/build-team.ts';

// Protocol types and vocabularies.
export {
  MessageStatus,
  RunEndReason,
  ErrorCode,
  CloseCode,
  PROTOCOL_VERSION,
  SUBPROTOCOL,
} from './protocol/codes.ts';
export { ContentAccumulator } from './protocol/content.ts';
export type {
  Annotation,
  ClientFrame,
  DeltaContent,
  FileReference,
  Message,
  Part,
  ServerFrame,
  ThreadEvent,
  Usage,
} from './protocol/frames.ts';
