// The page at `/`: a minimal viewer until the full one exists. It creates or opens a thread,
// posts, and shows agents streaming live, speaking the protocol like any other client.
export function renderIndexPage(options: { teams: readonly string[]; defaultTeam: string }): string {
  const teamOptions = options.teams
    .map((team) => `<option${team === options.defaultTeam ? ' selected' : ''}>${escapeHtml(team)}</option>`)
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chorus</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; max-width: 52rem; margin: 1.5rem auto; padding: 0 1rem; color: #1d1d1f; }
  header { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
  #log { margin-top: 1rem; }
  .message { border-left: 3px solid #ccc; padding: .25rem .75rem; margin: .6rem 0; white-space: pre-wrap; }
  .message.user { border-color: #0a84ff; }
  .message.streaming { border-color: #ff9f0a; }
  .author { font-weight: 600; font-size: .85em; color: #555; }
  .status { font-size: .75em; color: #a00; margin-left: .5rem; }
  #state { font-size: .8em; color: #666; }
  form { display: flex; gap: .5rem; margin-top: 1rem; }
  input[type=text] { flex: 1; padding: .4rem; }
</style>
</head>
<body>
<header>
  <strong>Chorus</strong>
  <input id="thread" placeholder="thread id (empty: new)" size="24">
  <select id="team">${teamOptions}</select>
  <button id="open">Open</button>
  <span id="state">connecting…</span>
</header>
<div id="log"></div>
<form id="composer"><input id="text" type="text" placeholder="Ask the team…" autocomplete="off"><button>Post</button><button type="button" id="cancel">Cancel run</button></form>
<script type="module">
const $ = (id) => document.getElementById(id);
const log = $('log');
let socket, threadId = location.hash.slice(1) || '', cursor = null, requestCounter = 0;
const bubbles = new Map();
const nextId = () => 'r' + (++requestCounter);
function send(frame) { socket.send(JSON.stringify(frame)); }
function bubble(id, author, cls) {
  let element = bubbles.get(id);
  if (!element) {
    element = document.createElement('div');
    element.className = 'message ' + cls;
    element.innerHTML = '<div class="author"></div><div class="text"></div>';
    element.querySelector('.author').textContent = author;
    log.append(element);
    bubbles.set(id, element);
  }
  return element;
}
function showMessage(message) {
  const element = bubble(message.id, message.author, message.role === 'user' ? 'user' : 'agent');
  element.classList.remove('streaming');
  element.querySelector('.text').textContent = message.text;
  if (message.status !== 'completed') {
    const status = document.createElement('span');
    status.className = 'status';
    status.textContent = message.status;
    element.querySelector('.author').append(status);
  }
}
function connect() {
  socket = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws', 'chorus.v1');
  socket.onopen = () => send({ type: 'hello', protocol: 1, user: 'viewer' });
  socket.onclose = () => { $('state').textContent = 'reconnecting…'; setTimeout(connect, 500 + Math.random() * 1500); };
  socket.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    switch (frame.type) {
      case 'welcome': $('state').textContent = 'connected'; if (threadId) subscribe(); break;
      case 'thread-created': threadId = frame.threadId; location.hash = threadId; $('thread').value = threadId; subscribe(); break;
      case 'subscribed': if (!frame.recovered) { log.textContent = ''; bubbles.clear(); } $('state').textContent = 'watching ' + frame.threadId; break;
      case 'message': cursor = frame.cursor; showMessage(frame.message); break;
      case 'message-start': bubble(frame.messageId, frame.agent, 'agent streaming'); break;
      case 'message-delta': {
        const element = bubbles.get(frame.messageId); if (!element) break;
        const text = element.querySelector('.text');
        if (frame.snapshot) text.textContent = frame.text || ''; else if (frame.text) text.textContent += frame.text;
        break;
      }
      case 'message-end': cursor = frame.cursor; showMessage(frame.message); break;
      case 'run-end': $('state').textContent = 'run ended: ' + frame.reason + (frame.detail ? ' (' + frame.detail + ')' : ''); break;
      case 'thread-deleted': $('state').textContent = 'thread deleted'; break;
      case 'error': $('state').textContent = 'error: ' + frame.code + ' — ' + frame.message; break;
    }
  };
}
function subscribe() { send({ type: 'subscribe', requestId: nextId(), threadId, ...(cursor ? { cursor } : {}) }); }
$('open').onclick = () => {
  const wanted = $('thread').value.trim();
  log.textContent = ''; bubbles.clear(); cursor = null;
  send({ type: 'create-thread', requestId: nextId(), team: $('team').value, ...(wanted ? { threadId: wanted } : {}) });
};
$('composer').onsubmit = (event) => {
  event.preventDefault();
  const text = $('text').value.trim();
  if (!text || !threadId) return;
  send({ type: 'post', requestId: nextId(), threadId, clientMessageId: crypto.randomUUID(), text });
  $('text').value = '';
};
$('cancel').onclick = () => threadId && send({ type: 'cancel', requestId: nextId(), threadId });
$('thread').value = threadId;
connect();
</script>
</body>
</html>`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}
