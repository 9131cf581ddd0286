// The name a model sees for an MCP tool: `<server>__<tool>`, so that tools of different servers
// (and local tools) cannot collide. Characters that model tool names do not allow (MCP names may
// hold `.` or `/`) become `_`; the result must still fit the model's rule, `^[A-Za-z0-9_-]{1,64}$`,
// which the team file checks for every tool an agent names.
import { TOOL_NAME } from '../tools.ts';

export const MCP_TOOL_SEPARATOR = '__';

export function mcpToolName(server: string, tool: string): string {
  return `${server}${MCP_TOOL_SEPARATOR}${tool.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/** Whether the model may be given `name` as a tool name. */
export function isModelToolName(name: string): boolean {
  return TOOL_NAME.test(name);
}
