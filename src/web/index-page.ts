// The viewer's page at `/`: landmarks and controls in HTML, wired by the bundle (src/web/viewer/)
// that it loads as a file (no inline script or style: the page's CSP forbids them). The server's
// settings reach the bundle as data attributes.
export interface IndexPageOptions {
  basePath: string;
  teams: readonly string[];
  defaultTeam: string;
  authRequired: boolean;
}

export function renderIndexPage(options: IndexPageOptions): string {
  const base = escapeHtml(options.basePath);
  const teamOptions = options.teams
    .map((team) => `<option${team === options.defaultTeam ? ' selected' : ''}>${escapeHtml(team)}</option>`)
    .join('');
  const tokenField = options.authRequired
    ? `<label for="token">Token</label><input id="token" type="password" autocomplete="off">`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chorus</title>
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Ccircle cx='8' cy='8' r='7' fill='%230b57d0'/%3E%3C/svg%3E">
<link rel="stylesheet" href="${base}/viewer.css">
<script type="module" src="${base}/viewer.js"></script>
</head>
<body data-base-path="${base}" data-auth="${options.authRequired ? 'required' : 'off'}" data-run="none">
<header class="bar">
  <h1><a href="${base}/" id="home">Chorus</a></h1>
  <p class="states"><span id="connection" role="status">Connection: connecting</span> <span id="run">No thread open</span></p>
  <div class="actions">
    <button type="button" id="show-recent" aria-expanded="false" aria-controls="recent-threads">Threads</button>
    <button type="button" id="new-thread">New thread</button>
    <button type="button" id="copy-link" hidden>Copy link</button>
    <details id="settings"><summary>Settings</summary>
      <form id="settings-form">
        <label for="name">Your name</label><input id="name" autocomplete="nickname" maxlength="64">
        ${tokenField}
        <button type="submit">Save</button>
      </form>
    </details>
  </div>
</header>
<div class="layout">
<nav id="recent-threads" aria-label="Recent threads"><h2>Recent threads</h2><ul id="recent"></ul></nav>
<main id="main" tabindex="0" aria-label="Conversation">
  <div id="intro"><h2>Start a conversation</h2><p>Type a question below and press Enter: a new thread opens with the team.</p>
    <label for="team">Team</label> <select id="team">${teamOptions}</select></div>
  <button type="button" id="load-older" hidden>Load older messages</button>
  <section id="log" aria-label="Messages"></section>
</main>
</div>
<div id="announcer" class="visually-hidden" aria-live="polite"></div>
<button type="button" id="jump" hidden>Jump to latest</button>
<form id="composer" class="composer" aria-label="Write a message">
  <label for="message" class="visually-hidden">Message</label>
  <textarea id="message" rows="1" placeholder="Ask the team…" autocomplete="off"></textarea>
  <button type="submit">Send</button>
  <button type="button" id="stop" hidden>Stop</button>
</form>
</body>
</html>`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}
