// The viewer app at `/`, on the client SDK: one thread at a time (its URL `?thread=<id>` is the
// shareable link), the thread view in the SDK's order (stored messages, posts not stored yet,
// messages in flight: the same live and after a reload), every message's status in words, the
// connection's state apart from the run's, posts typed while offline shown pending (the SDK queues
// them), auto-scroll that follows the stream unless the reader scrolled up, older history on scroll.
import { ChorusClient, type ChorusThread, type ThreadItem } from '../../client/index.ts';
import { renderMarkdown } from './markdown.ts';

const $ = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing`);
  return element as T;
};

const basePath = document.body.dataset.basePath ?? '';
const authRequired = document.body.dataset.auth === 'required';
const ui = {
  connection: $('connection'),
  run: $('run'),
  newThread: $<HTMLButtonElement>('new-thread'),
  copyLink: $<HTMLButtonElement>('copy-link'),
  settings: $<HTMLDetailsElement>('settings'),
  settingsForm: $<HTMLFormElement>('settings-form'),
  name: $<HTMLInputElement>('name'),
  token: authRequired ? $<HTMLInputElement>('token') : null,
  recent: $<HTMLUListElement>('recent'),
  main: $('main'),
  intro: $('intro'),
  team: $<HTMLSelectElement>('team'),
  loadOlder: $<HTMLButtonElement>('load-older'),
  log: $('log'),
  announcer: $('announcer'),
  jump: $<HTMLButtonElement>('jump'),
  composer: $<HTMLFormElement>('composer'),
  message: $<HTMLTextAreaElement>('message'),
  stop: $<HTMLButtonElement>('stop'),
};

// --- settings and recent threads (localStorage) ---------------------------------------------------

const storage = safeStorage();
const NAME_KEY = 'chorus.name';
const TOKEN_KEY = 'chorus.token';
const RECENT_KEY = 'chorus.recent';

function userName(): string {
  let name = storage?.getItem(NAME_KEY) ?? '';
  if (!name) {
    name = `guest-${Math.random().toString(36).slice(2, 6)}`;
    storage?.setItem(NAME_KEY, name);
  }
  return name;
}

interface RecentThread {
  id: string;
  title: string;
}

function recentThreads(): RecentThread[] {
  try {
    const parsed: unknown = JSON.parse(storage?.getItem(RECENT_KEY) ?? '[]');
    return Array.isArray(parsed)
      ? (parsed as RecentThread[]).filter((entry) => typeof entry?.id === 'string')
      : [];
  } catch {
    return [];
  }
}

function rememberThread(id: string, title?: string): void {
  const list = recentThreads();
  const existing = list.find((entry) => entry.id === id);
  const entry = { id, title: title ?? existing?.title ?? id };
  const next = [entry, ...list.filter((other) => other.id !== id)].slice(0, 20);
  storage?.setItem(RECENT_KEY, JSON.stringify(next));
  renderRecent();
}

function renderRecent(): void {
  ui.recent.replaceChildren(
    ...recentThreads().map((entry) => {
      const item = document.createElement('li');
      const link = document.createElement('a');
      link.href = threadUrl(entry.id);
      link.textContent = entry.title;
      if (entry.id === thread?.threadId) link.setAttribute('aria-current', 'page');
      link.addEventListener('click', (event) => {
        event.preventDefault();
        openThread(entry.id, { push: true });
      });
      item.append(link);
      return item;
    }),
  );
}

function threadUrl(id: string): string {
  return `${basePath}/?thread=${encodeURIComponent(id)}`;
}

// --- the client -----------------------------------------------------------------------------------

let client: ChorusClient;
let thread: ChorusThread | null = null;
let removeThreadListeners: () => void = () => undefined;
let wasDisconnected = false;
let resumed = false;

function startClient(): void {
  const wsUrl = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${basePath}/ws`;
  // Cursors stay in memory (the SDK's default): a reload shows the thread's history again, and
  // reconnects within the page resume from the last message received.
  client = new ChorusClient({
    url: wsUrl,
    user: userName(),
    ...(authRequired ? { token: () => storage?.getItem(TOKEN_KEY) || undefined } : {}),
  });
  client.on('state', () => {
    if (client.state === 'reconnecting') {
      wasDisconnected = true;
      resumed = false;
    }
    renderConnection();
  });
  renderConnection();
}

function renderConnection(): void {
  let text: string;
  if (client.state === 'connected') text = resumed ? 'resumed' : 'connected';
  else if (client.state === 'reconnecting') text = navigator.onLine ? 'reconnecting' : 'offline';
  else if (client.state === 'closed')
    text = `closed${client.connection.error ? `: ${client.connection.error.message}` : ''}`;
  else text = 'connecting';
  ui.connection.textContent = `Connection: ${text}`;
  ui.connection.dataset.state = text.split(':')[0]!;
  document.body.dataset.connection = ui.connection.dataset.state;
  scheduleRender();
}

window.addEventListener('online', renderConnection);
window.addEventListener('offline', renderConnection);

function openThread(id: string | null, options: { push?: boolean } = {}): ChorusThread | null {
  removeThreadListeners();
  void thread?.close();
  thread = null;
  elements.clear();
  ui.log.replaceChildren();
  stick = true;
  if (options.push) history.pushState(null, '', id ? threadUrl(id) : `${basePath}/`);
  if (id) {
    const opened = client.thread(id);
    thread = opened;
    const offs = [
      opened.on('change', scheduleRender),
      opened.on('synced', (info) => {
        if (wasDisconnected && info.recovered) resumed = true;
        wasDisconnected = false;
        renderConnection();
      }),
      opened.on('message', ({ item, backlog }) => {
        if (!backlog) announce(`${item.author}: ${statusWords(item)}. ${item.text.slice(0, 140)}`);
        if (item.role === 'user' && opened.messages[0] === item) rememberThread(id, item.text.slice(0, 60));
      }),
      opened.on('message-start', ({ item }) => announce(`${item.author} is writing…`)),
    ];
    removeThreadListeners = () => offs.forEach((off) => off());
    const first = opened.messages.find((item) => item.role === 'user');
    rememberThread(id, first?.text.slice(0, 60));
  }
  document.title = id ? `Chorus — ${id}` : 'Chorus';
  renderRecent();
  scheduleRender();
  return thread;
}

// --- rendering ------------------------------------------------------------------------------------

const elements = new Map<string, { article: HTMLElement; signature: string }>();
let renderQueued = false;
/** The reader is at the bottom: new content scrolls into view. */
let stick = true;

function scheduleRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

function render(): void {
  const current = thread;
  ui.intro.hidden = current !== null;
  ui.copyLink.hidden = current === null;
  ui.loadOlder.hidden = !current?.hasOlder;
  const running = current?.run != null;
  // Stop disappears when the run ends (pressed or not): a keyboard user's focus stays in the composer.
  if (!running && document.activeElement === ui.stop) ui.message.focus();
  ui.stop.hidden = !running;
  document.body.dataset.run = current ? (running ? 'active' : 'idle') : 'none';
  ui.run.textContent = !current
    ? 'No thread open'
    : current.status === 'failed'
      ? `Thread unavailable: ${current.error?.message ?? 'refused'}`
      : current.status === 'deleted'
        ? 'Thread deleted'
        : running
          ? 'Run: active'
          : current.lastRunEnd
            ? `Run: ended (${current.lastRunEnd.reason}${current.lastRunEnd.detail ? `: ${current.lastRunEnd.detail}` : ''})`
            : 'Run: idle';
  if (!current) return;

  const previousHeight = ui.main.scrollHeight;
  const previousTop = ui.main.scrollTop;
  const firstKeyBefore = ui.log.firstElementChild?.getAttribute('data-key');
  const items = current.items();
  const seen = new Set<string>();
  let previous: Element | null = null;
  for (const item of items) {
    seen.add(item.key);
    const article = renderItem(item);
    const expectedPosition: Element | null = previous
      ? previous.nextElementSibling
      : ui.log.firstElementChild;
    if (expectedPosition !== article) ui.log.insertBefore(article, expectedPosition);
    previous = article;
  }
  for (const [key, entry] of elements) {
    if (!seen.has(key)) {
      entry.article.remove();
      elements.delete(key);
    }
  }
  const firstKeyAfter = ui.log.firstElementChild?.getAttribute('data-key');
  if (stick) {
    ui.main.scrollTop = ui.main.scrollHeight;
  } else if (firstKeyBefore && firstKeyAfter !== firstKeyBefore) {
    // Older messages came in above: keep what the reader sees where it was.
    ui.main.scrollTop = previousTop + (ui.main.scrollHeight - previousHeight);
  }
  ui.jump.hidden = stick;
}

function renderItem(item: ThreadItem): HTMLElement {
  const status = statusWords(item);
  const signature = `${item.status}\u0000${status}\u0000${item.text}\u0000${item.stale}`;
  const existing = elements.get(item.key);
  if (existing && existing.signature === signature) return existing.article;
  const article = existing?.article ?? document.createElement('article');
  if (!existing) {
    article.dataset.key = item.key;
    article.className = 'message';
    const header = document.createElement('header');
    const author = document.createElement('span');
    author.className = 'author';
    const state = document.createElement('span');
    state.className = 'status';
    header.append(author, ' ', state);
    const body = document.createElement('div');
    body.className = 'body';
    article.append(header, body);
  }
  const mine = item.role === 'user' && item.author === client.user;
  article.classList.toggle('user', item.role === 'user');
  article.classList.toggle('mine', mine);
  article.classList.toggle('agent', item.role !== 'user');
  article.dataset.status = item.status;
  article.dataset.author = item.author;
  if (item.id) article.dataset.id = item.id;
  if (item.role !== 'user') article.style.setProperty('--hue', String(hueOf(item.author)));
  article.setAttribute('aria-label', `${item.author}, ${status}`);
  const author = article.querySelector<HTMLElement>('.author')!;
  author.textContent = item.author;
  const state = article.querySelector<HTMLElement>('.status')!;
  state.textContent = status;
  const body = article.querySelector<HTMLElement>('.body')!;
  // Raw HTML is off in the renderer: the text cannot inject markup.
  body.innerHTML = item.text ? renderMarkdown(item.text) : '';
  if (item.status === 'unsent' && item.post) {
    const retry = document.createElement('button');
    retry.type = 'button';
    retry.textContent = 'Retry';
    const post = item.post;
    retry.addEventListener('click', () => post.retry());
    body.append(retry);
  }
  elements.set(item.key, { article, signature });
  return article;
}

function statusWords(item: ThreadItem): string {
  switch (item.status) {
    case 'sending':
      return client.state === 'connected' ? 'sending…' : 'pending: sent when the connection is back';
    case 'sent':
      return 'sent';
    case 'unsent':
      return `not sent: ${item.error?.message ?? 'refused'}`;
    case 'streaming':
      return item.stale ? 'writing… (reconnecting)' : 'writing…';
    case 'completed':
      return 'completed';
    case 'cancelled':
      return 'cancelled';
    case 'failed':
      return `failed: ${item.error?.message ?? 'the agent failed'}`;
    case 'interrupted':
      return 'interrupted';
    default:
      return String(item.status);
  }
}

function hueOf(name: string): number {
  let hash = 0;
  for (const character of name) hash = (hash * 31 + character.codePointAt(0)!) >>> 0;
  return hash % 360;
}

let announceTimer: ReturnType<typeof setTimeout> | undefined;
function announce(text: string): void {
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => (ui.announcer.textContent = text), 100);
}

// --- scrolling ------------------------------------------------------------------------------------

let loadingOlder = false;
function loadOlder(): void {
  const current = thread;
  if (!current?.hasOlder || loadingOlder) return;
  loadingOlder = true;
  ui.loadOlder.textContent = 'Loading older messages…';
  current
    .loadOlder({ limit: 50 })
    .catch(() => undefined)
    .finally(() => {
      loadingOlder = false;
      ui.loadOlder.textContent = 'Load older messages';
      scheduleRender();
    });
}

ui.main.addEventListener(
  'scroll',
  () => {
    stick = ui.main.scrollTop + ui.main.clientHeight >= ui.main.scrollHeight - 48;
    ui.jump.hidden = stick || thread === null;
    // Only a reader who scrolled up loads older pages: while the backlog renders in parts, the
    // view follows its end near the top of a short log, and that loaded older pages unasked.
    if (!stick && ui.main.scrollTop < 200) loadOlder();
  },
  { passive: true },
);
ui.loadOlder.addEventListener('click', loadOlder);
ui.jump.addEventListener('click', () => {
  stick = true;
  ui.main.scrollTop = ui.main.scrollHeight;
  ui.jump.hidden = true;
  ui.message.focus();
});

// --- the composer and the controls ------------------------------------------------------------------

let creating = false;
async function send(): Promise<void> {
  const text = ui.message.value.trim();
  if (!text || creating) return;
  ui.message.value = '';
  stick = true;
  if (thread) {
    thread.post(text);
    return;
  }
  // No thread open: this question starts one.
  creating = true;
  ui.run.textContent = 'Creating a thread…';
  try {
    const { threadId } = await client.createThread({ team: ui.team.value });
    const opened = openThread(threadId, { push: true });
    rememberThread(threadId, text.slice(0, 60));
    opened?.post(text);
  } catch (error) {
    ui.message.value = text;
    ui.run.textContent = `Could not create a thread: ${(error as Error).message}`;
  } finally {
    creating = false;
  }
}

ui.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  void send();
});
ui.message.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    void send();
  }
});
ui.stop.addEventListener('click', () => {
  thread
    ?.cancel()
    .catch((error: unknown) => (ui.run.textContent = `Stop failed: ${(error as Error).message}`));
});
const showRecent = $<HTMLButtonElement>('show-recent');
function toggleRecent(open: boolean): void {
  document.body.dataset.recent = open ? 'open' : 'closed';
  showRecent.setAttribute('aria-expanded', String(open));
}
showRecent.addEventListener('click', () => toggleRecent(document.body.dataset.recent !== 'open'));
ui.recent.addEventListener('click', () => toggleRecent(false));
ui.newThread.addEventListener('click', () => {
  openThread(null, { push: true });
  ui.message.focus();
});
ui.copyLink.addEventListener('click', () => {
  if (!thread) return;
  const link = new URL(threadUrl(thread.threadId), location.href).href;
  const done = () => {
    ui.copyLink.textContent = 'Link copied';
    setTimeout(() => (ui.copyLink.textContent = 'Copy link'), 1500);
  };
  if (navigator.clipboard) navigator.clipboard.writeText(link).then(done, () => prompt('Thread link', link));
  else prompt('Thread link', link);
});
ui.settingsForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const name = ui.name.value.trim();
  if (name) storage?.setItem(NAME_KEY, name);
  if (ui.token) storage?.setItem(TOKEN_KEY, ui.token.value.trim());
  ui.settings.open = false;
  // The form closed around the focus: it goes back to what opened it.
  ui.settings.querySelector('summary')?.focus();
  // Names and tokens go in the handshake: a new connection carries them. Posts not stored yet
  // (waiting, or refused — say, by a viewer's token that was just replaced) go along with it, under
  // the same clientMessageId, so one already stored is not stored twice.
  const open = thread?.threadId ?? null;
  const unsent = thread?.posts.filter((post) => post.state !== 'sent') ?? [];
  removeThreadListeners();
  thread = null;
  client.close();
  startClient();
  const reopened = openThread(open);
  for (const post of unsent) reopened?.post(post.text, { clientMessageId: post.clientMessageId });
});
window.addEventListener('popstate', () => openThread(threadFromUrl()));

function threadFromUrl(): string | null {
  return new URLSearchParams(location.search).get('thread') || null;
}

function safeStorage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

ui.name.value = userName();
if (ui.token) ui.token.value = storage?.getItem(TOKEN_KEY) ?? '';
startClient();
openThread(threadFromUrl());
if (authRequired && !storage?.getItem(TOKEN_KEY)) ui.settings.open = true;
ui.message.focus();
