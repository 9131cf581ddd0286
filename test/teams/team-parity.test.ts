// One team, two paths: a three-agent team loaded from a team file (an LLM selector on Chat
// Completions against the fake OpenAI server, stream only; approval by the reviewer) produces the
// same history through the library's AgentGroupChat as through the server (WebSocket: hello →
// create-thread → subscribe → post → run-end), because both run the same GroupChat.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import { AgentGroupChat } from '../../src/library/agent-group-chat.ts';
import { createTeamsFromConfig } from '../../src/teams/create-teams.ts';
import type { TeamRegistry } from '../../src/teams/team.ts';
import { FakeOpenAI } from '../support/fake-openai.ts';
import { connect } from '../support/ws-client.ts';
import {
  collectRun,
  createThread,
  expectDeltasAddUp,
  post,
  readHistory,
  streamedMessages,
  subscribe,
  threadEvents,
} from '../gateway/thread-frames.ts';
import { chatAnswer } from './support.ts';

const TEAM_FILE = fileURLToPath(new URL('../fixtures/teams/review-llm.yaml', import.meta.url));
const REQUEST = 'Plan a launch party for the new app';

/** What the selector says, run after run: a wrong name (asked again), then planner → writer → reviewer → writer → reviewer. */
const SELECTOR_ANSWERS = ['"planner"', 'the editor', 'Writer.', '**reviewer**', 'writer', 'Reviewer'];
const EXPECTED_SPEAKERS = ['planner', 'writer', 'reviewer', 'writer', 'reviewer'];

describe('a team file run through the library and through the server', () => {
  let fake: FakeOpenAI;
  let config: Config;
  let teams: TeamRegistry;

  beforeAll(async () => {
    fake = await FakeOpenAI.start();
    config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      CHORUS_TEAM_FILE: TEAM_FILE,
      CHORUS_DEMO_TOKENS_PER_SECOND: '0',
    });
    teams = await createTeamsFromConfig(config, silentLogger, {
      env: { SELECTOR_API_KEY: 'test-key', OPENAI_BASE_URL: fake.baseURL },
    });
  });

  afterAll(async () => {
    await fake.close();
  });

  it('gives the same history, speakers and run end on both paths', async () => {
    expect(teams.defaultTeam).toBe('review');

    // The library.
    fake.script(...SELECTOR_ANSWERS.map(chatAnswer));
    const chat = AgentGroupChat.fromTeam(teams.get('review')!);
    chat.addChatMessage({ role: 'user', content: REQUEST, name: 'ada' });
    const librarySpeakers: string[] = [];
    for await (const item of chat.invokeStream()) {
      if (librarySpeakers.at(-1) !== item.agentName) librarySpeakers.push(item.agentName);
    }
    expect(librarySpeakers).toEqual(EXPECTED_SPEAKERS);
    expect(chat.isComplete).toBe(true);
    expect(chat.lastOutcome).toEqual({
      reason: 'terminated',
      detail: 'approval',
      explanation: 'reviewer wrote "APPROVED"',
    });
    const libraryHistory = chat
      .getChatMessages()
      .map(({ role, author, text, status }) => ({ role, author, text, status }));
    expect(fake.requests).toHaveLength(SELECTOR_ANSWERS.length);

    // The server, over WebSocket.
    fake.script(...SELECTOR_ANSWERS.map(chatAnswer));
    const app: App = await createApp({ config, teams });
    const port = await app.start();
    const client = await connect(`ws://127.0.0.1:${port}/ws`, { hello: { user: 'ada' } });
    try {
      const threadId = await createThread(client);
      await subscribe(client, threadId);
      await post(client, threadId, REQUEST);
      const frames = await collectRun(client);
      const events = threadEvents(frames, threadId);
      const streamed = streamedMessages(events);
      expectDeltasAddUp(streamed);
      expect(streamed.map((message) => message.agent)).toEqual(EXPECTED_SPEAKERS);
      expect(events.find((event) => event.type === 'run-start')).toMatchObject({ team: 'review' });
      expect(events.at(-1)).toMatchObject({ type: 'run-end', reason: 'terminated', detail: 'approval' });

      const serverHistory = (await readHistory(client, threadId)).map(({ role, author, text, status }) => ({
        role,
        author,
        text,
        status,
      }));
      expect(serverHistory).toEqual(libraryHistory);
      expect(serverHistory).toHaveLength(1 + EXPECTED_SPEAKERS.length);
      expect(serverHistory.at(-1)?.text).toMatch(/APPROVED$/);
    } finally {
      await client.close();
      await app.shutdown(0);
    }

    // Every selector question was a streaming request (the fake answers in SSE only).
    expect(fake.requests).toHaveLength(2 * SELECTOR_ANSWERS.length);
    for (const request of fake.requests) {
      expect(request.path).toBe('/v1/chat/completions');
      expect(request.body).toMatchObject({ stream: true, model: 'gpt-5-mini' });
    }
  });
});
