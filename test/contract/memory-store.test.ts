import { MemoryStore } from '../../src/store/memory-store.ts';
import { describeStoreContract } from './store.contract.ts';

describeStoreContract('MemoryStore', async (options = {}) => {
  const store = new MemoryStore({ historyMaxLength: options.historyMaxLength ?? 0 });
  return { store, cleanup: () => store.close() };
});
