// The SDK's stories against two instances sharing one Redis: the watcher fails over from A to B.
import { inject } from 'vitest';
import { redisDeployment } from './support.ts';
import { clientStories } from './stories.ts';

clientStories('two instances on Redis', (env) => redisDeployment(inject('redisUrl'), env));
