// The library API (Semantic Kernel's agent framework, in TypeScript): agents streamed on their
// own or in a group chat, without the server. Same Agent and GroupChat as the server's.
export { ChatAgent, ChatCompletionAgent } from './chat-completion-agent.ts';
export type {
  AgentResponse,
  AgentStreamItem,
  ChatAgentOptions,
  InvokeOptions,
} from './chat-completion-agent.ts';
export { OpenAIResponsesAgent } from './openai-responses-agent.ts';
export type { OpenAIResponsesAgentOptions } from './openai-responses-agent.ts';
export { ChatHistoryAgentThread } from './chat-history-agent-thread.ts';
export { AgentGroupChat } from './agent-group-chat.ts';
export type { AgentGroupChatOptions, AgentLike, GroupInvokeOptions } from './agent-group-chat.ts';
export { AgentInvokeError } from './run-chat.ts';
export type { RunOutcome, StreamingChatItem } from './run-chat.ts';
export { createModel, resolveModel } from './models.ts';
export type { CreateModelOptions, ModelInput } from './models.ts';
export type { ChatMessageInput } from './messages.ts';
