// The SDK's stories against one in-memory instance (restarted on its store and port for the
// server-close story).
import { memoryDeployment } from './support.ts';
import { clientStories } from './stories.ts';

clientStories('one in-memory instance', (env) => memoryDeployment(env));
