// The set-up of a gateway story: one server per test (started with `env`), and clients opened
// with `hello` that are all closed after it, before the server.
import { afterEach, beforeEach } from 'vitest';
import { connect, type TestClient } from '../support/ws-client.ts';
import { startServer, type TestServer } from '../support/server.ts';

export interface GatewayStory {
  /** This test's server. */
  readonly server: TestServer;
  /** A client connected to it and greeted as `user`. */
  open(user: string): Promise<TestClient>;
}

/** Registers the story's beforeEach and afterEach; call it in a describe block. */
export function gatewayStory(env: Record<string, string> = {}): GatewayStory {
  let current: TestServer | undefined;
  const clients: TestClient[] = [];
  beforeEach(async () => {
    current = await startServer(env);
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await current?.close();
    current = undefined;
  });
  const story: GatewayStory = {
    get server() {
      if (!current) throw new Error('the story server runs only inside a test');
      return current;
    },
    async open(user) {
      const client = await connect(story.server.wsUrl, { hello: { user } });
      clients.push(client);
      return client;
    },
  };
  return story;
}
