// The viewer at `/` in a real Chromium (playwright-core, Debian's /usr/bin/chromium or
// CHROMIUM_PATH): two pages on two instances on Redis follow one run while one page's connection
// is cut, a post typed offline arrives once, both pages match the stored history live and after a
// reload; axe-core finds no serious or critical violation; a 390 px phone has no horizontal scroll;
// Enter starts a thread; markdown renders and raw HTML stays text; a failed turn says why; a reader
// who scrolled up stays where they are while older history loads and a run streams, until Jump to latest.
// With signed tokens, a post refused to a viewer's token stays on the page with Retry and goes, once,
// when a participant's token is saved.
// Screenshots go to test-results/viewer/.
import { mkdirSync } from 'node:fs';
import axe from 'axe-core';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ModelClient, ModelEvent, ModelTurnRequest } from '../../src/agents/model-client.ts';
import { ModelError } from '../../src/errors.ts';
import type { Message } from '../../src/protocol/frames.ts';
import { createDemoTeam, TeamRegistry } from '../../src/teams/team.ts';
import { redisDeployment, type Deployment } from '../client/support.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { claims, hs256Issuer } from '../support/tokens.ts';
import { connect } from '../support/ws-client.ts';
import { createThread, uniqueId } from '../gateway/thread-frames.ts';

const ARTIFACTS = 'test-results/viewer';
mkdirSync(ARTIFACTS, { recursive: true });

let browser: Browser;

beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
});
afterAll(async () => {
  await browser?.close();
});

/** Resolves once `check` returns null; fails after `timeoutMs` with the last thing it returned. */
async function eventually(check: () => Promise<string | null>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let problem: string | null = 'not checked';
  while (Date.now() < deadline) {
    problem = await check();
    if (problem === null) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`still not so after ${timeoutMs} ms: ${problem}`);
}

/** The page's messages in display order: [message id, status] (posts not stored yet have no id). */
function shownMessages(page: Page): Promise<Array<[string, string]>> {
  return page.$$eval('#log article', (articles) =>
    articles.map((article) => [
      (article as HTMLElement).dataset.id ?? '',
      (article as HTMLElement).dataset.status ?? '',
    ]),
  );
}

async function seriousViolations(page: Page): Promise<string[]> {
  await page.evaluate(axe.source);
  return page.evaluate(async () => {
    const result = await (window as unknown as { axe: typeof axe }).axe.run(document);
    return result.violations
      .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
      .map((violation) => `${violation.id}: ${violation.nodes.map((node) => node.html).join(' | ')}`);
  });
}

async function ask(page: Page, text: string): Promise<void> {
  const composer = page.getByRole('textbox', { name: 'Message' });
  await composer.fill(text);
  await composer.press('Enter');
}

describe('the viewer on two instances on Redis', () => {
  let deployment: Deployment;
  beforeAll(async () => {
    deployment = await redisDeployment(inject('redisUrl'));
  });
  afterAll(async () => {
    await deployment?.close();
  });

  it('follows a run through a cut connection, delivers an offline post once, and matches the history after a reload', async () => {
    const direct = deployment.posterUrl().replace(/^ws/, 'http').replace(/\/ws$/, '/');
    const proxied = `http://127.0.0.1:${deployment.proxy.port}/`;
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    const [steady, cut] = [await context.newPage(), await context.newPage()];
    const errors: string[] = [];
    for (const page of [steady, cut]) page.on('pageerror', (error) => errors.push(error.message));

    await steady.goto(direct);
    await ask(steady, 'Plan a **picnic** for six');
    await steady.waitForURL(/\?thread=/);
    const threadId = new URL(steady.url()).searchParams.get('thread')!;
    await cut.goto(`${proxied}?thread=${encodeURIComponent(threadId)}`);

    // Mid-run: the cut page shows an agent writing, then its connection dies.
    await cut.locator('#log article[data-status="streaming"]').first().waitFor({ timeout: 10_000 });
    await expect.poll(() => cut.locator('#stop').isVisible()).toBe(true);
    await cut.screenshot({ path: `${ARTIFACTS}/mid-run.png` });
    deployment.proxy.refuse(true);
    deployment.proxy.cut();
    await cut.locator('body:is([data-connection="reconnecting"], [data-connection="offline"])').waitFor();
    await ask(cut, 'Asked while offline');
    const pending = cut.locator('#log article', { hasText: 'Asked while offline' });
    await expect.poll(() => pending.locator('.status').textContent()).toMatch(/^pending/);
    await cut.screenshot({ path: `${ARTIFACTS}/offline-post-pending.png` });
    deployment.proxy.refuse(false);
    await cut.locator('body[data-connection="resumed"]').waitFor({ timeout: 10_000 });

    // Both pages end on the stored history, in its order: the offline post once, answered.
    let history: Message[] = [];
    const settled = async (pages: Page[]) => {
      history = await deployment.history(threadId);
      const offline = history.filter((message) => message.text === 'Asked while offline');
      if (offline.length !== 1) return `the offline post is stored ${offline.length} times`;
      const last = history.at(-1)!;
      if (last.role === 'user' || history.indexOf(offline[0]!) > history.indexOf(last))
        return 'no answer yet';
      const expected = history.map((message) => [message.id, message.status]);
      for (const page of pages) {
        if ((await page.locator('body').getAttribute('data-run')) !== 'idle') return 'a run is active';
        const shown = await shownMessages(page);
        if (JSON.stringify(shown) !== JSON.stringify(expected))
          return `shown ${JSON.stringify(shown)}\nstored ${JSON.stringify(expected)}`;
      }
      return null;
    };
    await eventually(() => settled([steady, cut]), 30_000);
    expect(history.every((message) => message.status === 'completed')).toBe(true);
    await cut.screenshot({ path: `${ARTIFACTS}/end-cut-page.png` });
    await steady.screenshot({ path: `${ARTIFACTS}/end-steady-page.png` });
    await expect.poll(() => cut.locator('#stop').isVisible()).toBe(false);
    expect(await steady.locator('#log article strong').first().textContent()).toBe('picnic');

    await Promise.all([steady.reload(), cut.reload()]);
    await eventually(() => settled([steady, cut]), 10_000);
    expect(await seriousViolations(cut)).toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  }, 60_000);
});

/** Streams a few words, then fails as a model over quota does. */
class FailingModel implements ModelClient {
  readonly id = 'failing';
  async *stream(_request: ModelTurnRequest): AsyncGenerator<ModelEvent> {
    yield { type: 'delta', delta: { text: 'Let me think' } };
    await Promise.resolve();
    throw new ModelError('model-quota', 'The model is over its quota (test)', false);
  }
}

describe('the viewer on one instance', () => {
  let server: TestServer;
  beforeAll(async () => {
    const teams = new TeamRegistry([
      createDemoTeam({ tokensPerSecond: 400, maxIterations: 3 }),
      {
        ...createDemoTeam({ tokensPerSecond: 400, maxIterations: 3, model: new FailingModel() }),
        name: 'failing',
      },
      { ...createDemoTeam({ tokensPerSecond: 10, maxIterations: 3 }), name: 'slow' },
    ]);
    server = await startServer({}, { teams });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('serves the page with a CSP and no inline script, and the bundle', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    expect(html).toMatch(/<script type="module" src="\/viewer\.js"><\/script>/);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    const bundle = await fetch(`${server.url}/viewer.js`);
    expect(bundle.headers.get('content-type')).toMatch(/javascript/);
    expect((await bundle.text()).length).toBeGreaterThan(10_000);
  });

  it('starts a thread on Enter, renders markdown and keeps raw HTML as text', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}/`);
    await page.getByText('Settings').click();
    await page.getByLabel('Your name').fill('ada');
    await page.getByRole('button', { name: 'Save' }).click();
    await ask(
      page,
      'Hello **team**. <img src=x onerror="window.__xss=1"> [bad](javascript:alert(1)) https://example.com/x',
    );
    await page.waitForURL(/\?thread=/);
    const post = page.locator('#log article.user').first();
    await post.locator('strong', { hasText: 'team' }).waitFor();
    expect(await post.locator('.body').textContent()).toContain('<img src=x onerror="window.__xss=1">');
    expect(await post.locator('img').count()).toBe(0);
    expect(await post.locator('a[href^="javascript"]').count()).toBe(0);
    expect(await post.locator('a[href="https://example.com/x"]').getAttribute('rel')).toContain('noopener');
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(await post.locator('.author').textContent()).toBe('ada');
    await page.locator('#log article.agent').first().waitFor();
    // The live region announces new messages.
    await expect.poll(() => page.locator('#announcer').textContent()).toMatch(/^(planner|writer|reviewer)/);
    expect(await page.locator('#copy-link').isVisible()).toBe(true);
    expect(await page.getByRole('navigation', { name: 'Recent threads' }).getByRole('link').count()).toBe(1);
    await page.close();
  });

  it('says in words why an agent failed', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}/`);
    await page.getByLabel('Team').selectOption('failing');
    await ask(page, 'Will this work?');
    const failed = page.locator('#log article[data-status="failed"]');
    await failed.waitFor({ timeout: 10_000 });
    expect(await failed.locator('.status').textContent()).toBe('failed: The model is over its quota (test)');
    expect(await failed.locator('.body').textContent()).toContain('Let me think');
    await expect.poll(() => page.locator('#run').textContent()).toMatch(/^Run: ended \(failed/);
    await page.close();
  });

  it('opens a 163-message thread at its end and pages in older history on scroll', async () => {
    const threadId = 'long-thread';
    await server.app.store.createThread({ threadId, team: 'demo' });
    const messages: Message[] = Array.from({ length: 163 }, (_, index) => ({
      id: `long-${index + 1}`,
      role: index % 2 === 0 ? 'user' : 'assistant',
      author: index % 2 === 0 ? 'ada' : 'planner',
      text: `message ${index + 1}`,
      status: 'completed',
      createdAt: new Date(0).toISOString(),
    }));
    await server.app.store.importMessages(threadId, messages);
    const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
    await page.goto(`${server.url}/?thread=${threadId}`);
    const articles = page.locator('#log article');
    await page.locator('#log article[data-id="long-163"]').waitFor();
    const first = await articles.count();
    expect(first).toBeLessThan(163);
    // Opened at the end: the newest message is in view.
    await expect.poll(() => page.locator('#log article[data-id="long-163"]').isVisible()).toBe(true);
    await eventually(async () => {
      await page.locator('#main').evaluate((main) => main.scrollTo({ top: 0 }));
      const count = await articles.count();
      return count === 163 ? null : `${count} messages shown`;
    }, 15_000);
    const ids = await shownMessages(page);
    expect(ids.map(([id]) => id)).toEqual(messages.map((message) => message.id));
    expect(await page.locator('#load-older').isVisible()).toBe(false);
    await page.close();
  });

  it('keeps the reader where they are while older history loads and a run streams, until Jump to latest', async () => {
    const threadId = 'reading-thread';
    await server.app.store.createThread({ threadId, team: 'demo' });
    await server.app.store.importMessages(
      threadId,
      Array.from({ length: 120 }, (_, index) => ({
        id: `read-${index + 1}`,
        role: index % 2 === 0 ? ('user' as const) : ('assistant' as const),
        author: index % 2 === 0 ? 'ada' : 'planner',
        text: `message ${index + 1}`,
        status: 'completed' as const,
        createdAt: new Date(0).toISOString(),
      })),
    );
    const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
    await page.goto(`${server.url}/?thread=${threadId}`);
    const articles = page.locator('#log article');
    await page.locator('#log article[data-id="read-120"]').waitFor();
    const shownBefore = await articles.count();
    expect(shownBefore).toBeLessThan(120);
    /** Where an article is, in px from the top of the scrolled area's viewport. */
    const offsetOf = (id: string) =>
      page.evaluate((key) => {
        const main = document.getElementById('main')!;
        const article = document.querySelector(`#log article[data-id="${key}"]`)!;
        return article.getBoundingClientRect().top - main.getBoundingClientRect().top;
      }, id);
    // Scroll to the top: older messages load above; the message that was at the top stays put.
    const topId = (await articles.first().getAttribute('data-id'))!;
    await page.locator('#main').evaluate((main) => main.scrollTo({ top: 0 }));
    const before = await offsetOf(topId);
    await expect.poll(() => articles.count(), { timeout: 10_000 }).toBeGreaterThan(shownBefore);
    expect(Math.abs((await offsetOf(topId)) - before)).toBeLessThan(40);
    expect(await page.locator('#jump').isVisible()).toBe(true);

    // A run streams meanwhile (posted elsewhere): the reader is not moved; Jump to latest brings
    // them to its end.
    const other = await connect(server.wsUrl, { hello: { user: 'grace' } });
    try {
      await other.request({ type: 'subscribe', threadId }, 'subscribed');
      await other.request(
        { type: 'post', threadId, clientMessageId: 'read-post', text: 'Plan a picnic' },
        'posted',
      );
      await other.waitFor('run-end', () => true, 20_000);
    } finally {
      await other.close();
    }
    await expect
      .poll(() => page.locator('#log article.agent').last().getAttribute('data-status'), { timeout: 10_000 })
      .toBe('completed');
    const reading = await offsetOf(topId);
    expect(Math.abs(reading - before)).toBeLessThan(40);
    const newest = page.locator('#log article').last();
    expect(await newest.isVisible()).toBe(true); // in the DOM
    expect(await newest.evaluate((article) => article.getBoundingClientRect().top > window.innerHeight)).toBe(
      true,
    );
    await page.locator('#jump').click();
    await expect
      .poll(() =>
        newest.evaluate((article) => article.getBoundingClientRect().bottom <= window.innerHeight + 1),
      )
      .toBe(true);
    expect(await page.locator('#jump').isVisible()).toBe(false);
    await page.screenshot({ path: `${ARTIFACTS}/jump-to-latest.png` });
    await page.close();
  });

  it('keeps the keyboard user’s place: Stop leaves the focus in the composer, Save on Settings; every control in a landmark', async () => {
    const page = await browser.newPage();
    const icons: string[] = [];
    page.on('response', (response) => {
      if (response.status() >= 400) icons.push(`${response.status()} ${response.url()}`);
    });
    await page.goto(`${server.url}/`);
    await page.getByLabel('Team').selectOption('slow');
    await ask(page, 'Take your time');
    const stop = page.getByRole('button', { name: 'Stop' });
    await stop.waitFor({ timeout: 10_000 });
    await stop.focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => stop.isVisible()).toBe(false);
    // Focus used to fall to <body> when Stop hid itself.
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('message');

    await page.getByText('Settings').click();
    await page.getByLabel('Your name').fill('kim');
    await page.getByLabel('Your name').press('Enter');
    await expect.poll(() => page.locator('#settings').getAttribute('open')).toBeNull();
    expect(await page.evaluate(() => document.activeElement?.tagName)).toBe('SUMMARY');

    // Not only serious ones: the composer used to sit outside every landmark (region, moderate).
    await page.evaluate(axe.source);
    const violations = await page.evaluate(async () => {
      const result = await (window as unknown as { axe: typeof axe }).axe.run(document);
      return result.violations.map((violation) => `${violation.impact}: ${violation.id}`);
    });
    expect(violations).toEqual([]);
    expect(icons).toEqual([]);
    await page.close();
  });

  it('fits a 390 px phone: long URLs and words wrap, no horizontal scroll, no serious axe violation', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    const url = `https://example.com/${'very-long-path-segment/'.repeat(12)}?q=${'x'.repeat(120)}`;
    await ask(page, `Look at ${url} and ${'supercalifragilistic'.repeat(8)}`);
    await page.locator('#log article.user').first().waitFor();
    await page.locator('#log article.agent[data-status="completed"]').first().waitFor({ timeout: 10_000 });
    // The recent threads open from the Threads button, and close when one is chosen.
    const recent = page.getByRole('navigation', { name: 'Recent threads' });
    expect(await recent.isVisible()).toBe(false);
    await page.getByRole('button', { name: 'Threads' }).click();
    await recent.getByRole('link').first().waitFor();
    await page.screenshot({ path: `${ARTIFACTS}/phone-390-threads.png` });
    await recent.getByRole('link').first().click();
    await expect.poll(() => recent.isVisible()).toBe(false);
    const widths = await page.evaluate(() => ({
      viewport: window.innerWidth,
      document: document.documentElement.scrollWidth,
      main: document.getElementById('main')!.scrollWidth,
      body: document.body.scrollWidth,
    }));
    expect(widths.document).toBeLessThanOrEqual(widths.viewport);
    expect(widths.body).toBeLessThanOrEqual(widths.viewport);
    expect(widths.main).toBeLessThanOrEqual(widths.viewport);
    await page.screenshot({ path: `${ARTIFACTS}/phone-390.png` });
    expect(await seriousViolations(page)).toEqual([]);
    await context.close();
  });
});

describe('the viewer with signed tokens', () => {
  let server: TestServer;
  const issuer = hs256Issuer();
  beforeAll(async () => {
    const teams = new TeamRegistry([createDemoTeam({ tokensPerSecond: 400, maxIterations: 1 })]);
    server = await startServer(issuer.env, { teams });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('keeps a post refused to a viewer token, with Retry, and sends it once a participant token is saved', async () => {
    const owner = await connect(server.wsUrl, { hello: { token: await issuer.sign(claims()) } });
    const threadId = await createThread(owner, uniqueId('viewer-token'));
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${server.url}/?thread=${encodeURIComponent(threadId)}`);
    // No token yet: the settings are open and ask for one.
    await page
      .getByRole('textbox', { name: 'Token' })
      .fill(await issuer.sign(claims({ role: 'viewer', sub: 'vera' })));
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.locator('#connection').textContent()).toMatch(/connected/);

    await ask(page, 'Sent with the wrong token');
    const refused = page.locator('#log article.user[data-status="unsent"]');
    await refused.waitFor({ timeout: 10_000 });
    expect(await refused.locator('.status').textContent()).toMatch(/^not sent: /);
    expect(await refused.getByRole('button', { name: 'Retry' }).isVisible()).toBe(true);
    await page.screenshot({ path: `${ARTIFACTS}/post-refused.png` });

    // A participant's token saved in the settings: the post goes with the new connection, once.
    await page.getByText('Settings').click();
    await page.getByRole('textbox', { name: 'Token' }).fill(await issuer.sign(claims({ sub: 'vera' })));
    await page.getByRole('button', { name: 'Save' }).click();
    await page
      .locator('#log article.user[data-status="sent"], #log article.user[data-status="completed"]')
      .waitFor({
        timeout: 10_000,
      });
    await page.locator('#log article.agent[data-status="completed"]').first().waitFor({ timeout: 10_000 });
    const page1 = await owner.request({ type: 'history', threadId }, 'history-page');
    const posts = page1.items.map((item) => item.message).filter((message) => message.role === 'user');
    expect(posts.map((message) => [message.text, message.author])).toEqual([
      ['Sent with the wrong token', 'vera'],
    ]);
    expect(await page.locator('#log article.user').count()).toBe(1);
    expect(errors).toEqual([]);
    await owner.close();
    await page.close();
  });
});
