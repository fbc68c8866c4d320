// The embeddable widget in headless Chromium: host pages served from other origins (other
// ports on 127.0.0.1) embed it with one script tag; the edge (wrangler dev + fake Bedrock)
// allows one of them. Also the strict Content-Security-Policy of the chat page itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { startStack, launchBrowser } from './stack.mjs';

const KEY = 'pk_e2e_widget';
const SONNET = 'us.anthropic.claude-sonnet-4-20250514-v1:0';

let stack;
let browser;
let allowed; // { server, origin }: a site the key lists
let refused; // a site it does not

/** The host page; `key: null` leaves data-key out. */
function hostPage(edge, { key = KEY, hostile = false, widget = true }) {
  const keyAttr = key === null ? '' : ` data-key="${key}"`;
  const tag = `<script src="${edge}/widget.js"${keyAttr} data-route="generate" data-title="Ask us"
    data-position="bottom-right" data-theme="auto" async></script>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Host page</title>
<link rel="stylesheet" href="/host.css">${hostile ? '\n<link rel="stylesheet" href="/hostile.css">' : ''}
</head><body>
<h1 id="host-title">A host page</h1>
<p id="host-text">Some text of the host, <a href="#">a link</a>.</p>
<button id="host-button" type="button">Host button</button>
<div id="host-box">A box</div>
<input id="host-input" value="host input">
${widget ? tag : ''}
</body></html>`;
}

const HOST_CSS = `
body { font-family: Georgia, serif; font-size: 17px; color: rgb(20, 40, 60); margin: 24px; }
#host-box { width: 200px; padding: 8px; border: 1px solid rgb(0, 0, 0); }
button { padding: 4px 10px; }
`;

// What careless or hostile page CSS looks like: none of it may reach the widget.
const HOSTILE_CSS = `
* { all: unset !important; }
html { font-size: 64px !important; }
body { font-size: 48px !important; line-height: 5 !important; letter-spacing: 8px !important; }
button { display: none !important; }
iframe { display: none !important; width: 1px !important; }
div { border: 12px solid red !important; padding: 40px !important; }
bedrock-chat-widget { display: none !important; position: static !important; }
:root { color-scheme: dark !important; }
`;

/** A tiny static server for host pages, with a strict CSP that allows the widget only. The
 * edge's URL is read per request: the servers start before the edge, which must know them. */
async function hostServer() {
  const server = createServer((request, response) => {
    const edge = stack.url;
    const url = new URL(request.url, 'http://host');
    if (url.pathname.endsWith('.css')) {
      response.writeHead(200, { 'content-type': 'text/css' });
      response.end(url.pathname === '/hostile.css' ? HOSTILE_CSS : HOST_CSS);
      return;
    }
    const key = url.searchParams.has('nokey') ? null : url.searchParams.get('key') ?? KEY;
    response.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      // What a careful site sends: the widget needs only its script and frame-src.
      'content-security-policy': `default-src 'none'; script-src ${edge}; frame-src ${edge}; `
        + `connect-src ${edge}; style-src 'self'`,
    });
    response.end(hostPage(edge, {
      key,
      hostile: url.searchParams.has('hostile'),
      widget: !url.searchParams.has('bare'),
    }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

function routes(allowedOrigin) {
  const target = (model) => ({ model, region: 'us-east-1' });
  return JSON.stringify({
    default_route: 'generate',
    routes: {
      generate: { targets: [target(SONNET)], rate_limit: 'chat' },
      classify: { targets: [target('us.anthropic.claude-3-5-haiku-20241022-v1:0')], rate_limit: 'chat' },
    },
    rate_limits: {
      chat: { limit: 60, period_s: 60 },
      widget: { limit: 20, period_s: 60 },
      'widget-key': { limit: 600, period_s: 60 },
    },
    widget_keys: {
      [KEY]: { origins: [allowedOrigin], routes: ['generate'], rate_limit: 'widget', key_rate_limit: 'widget-key' },
    },
  });
}

before(async () => {
  allowed = await hostServer();
  refused = await hostServer();
  stack = await startStack(['--var', `ROUTES=${routes(allowed.origin)}`]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stack?.stop();
  for (const site of [allowed, refused]) site?.server.close();
});

/** A fresh page (own storage) that records CSP violations and console errors. */
async function newPage() {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const page = await context.newPage();
  page.consoleErrors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') page.consoleErrors.push(message.text());
  });
  page.apiStatuses = [];
  page.apiHeaders = [];
  page.on('response', (response) => {
    const url = new URL(response.url());
    if (url.pathname.startsWith('/api/')) page.apiStatuses.push(`${response.request().method()} ${url.pathname} ${response.status()}`);
  });
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.pathname === '/api/chat') page.apiHeaders.push(request.headers());
  });
  return page;
}

const widgetFrame = (page) => page.frames().find((f) => f.url().includes('/widget/frame.html'));
const frameLocator = (page) => page.frameLocator('[data-testid="widget-frame"]');

async function violations(page) {
  const all = [];
  for (const frame of page.frames()) {
    all.push(...(await frame.evaluate(() => window.__violations ?? []).catch(() => [])));
  }
  return all;
}

async function openWhenReady(page) {
  await page.waitForFunction(() => window.BedrockChat?.ready, null, { timeout: 30_000 });
  await page.getByTestId('widget-launcher').click();
  await frameLocator(page).getByTestId('composer-input').waitFor({ timeout: 10_000 });
}

/** Waits for the widget's last answer to finish; returns its text. */
async function settledAnswer(page) {
  const frame = widgetFrame(page);
  await frame.waitForFunction(() => {
    const all = document.querySelectorAll('[data-testid="message"][data-role="assistant"]');
    const last = all[all.length - 1];
    return last && last.getAttribute('aria-busy') !== 'true' && last.textContent.includes('You said');
  }, null, { timeout: 20_000 });
  return frameLocator(page).locator('[data-testid="message"][data-role="assistant"]').last()
    .getByTestId('message-text').innerText();
}

test('the chat page sends a strict CSP and runs under it without a violation', async () => {
  const page = await newPage();
  const response = await page.goto(stack.url);
  const csp = response.headers()['content-security-policy'] ?? '';
  assert.match(csp, /script-src 'self' 'wasm-unsafe-eval';/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  await page.getByTestId('composer-input').fill('Hello under CSP');
  await page.getByTestId('send-button').click();
  await page.locator('[data-testid="message"][data-role="assistant"]').last()
    .getByText('You said').waitFor({ timeout: 20_000 });
  assert.deepEqual(await violations(page), []);
  assert.deepEqual(page.consoleErrors.filter((m) => /Content Security Policy/i.test(m)), []);
  await page.context().close();
});

test('on an allowed site the widget opens and streams an answer, with its JS API', async () => {
  const page = await newPage();
  await page.goto(`${allowed.origin}/`);
  const launcher = page.getByTestId('widget-launcher');
  await launcher.waitFor();
  assert.equal(await launcher.getAttribute('aria-label'), 'Open chat: Ask us');
  await openWhenReady(page);
  assert.equal(await launcher.getAttribute('aria-expanded'), 'true');
  const frameResponse = await page.request.get(widgetFrame(page).url());
  assert.equal(
    frameResponse.headers()['content-security-policy'].split('frame-ancestors ')[1],
    allowed.origin,
    'only the key\'s origins may frame the widget',
  );
  // Whatever page the frame's URL names.
  const elsewhere = new URL(widgetFrame(page).url());
  elsewhere.searchParams.set('origin', refused.origin);
  const elsewhereResponse = await page.request.get(elsewhere.href);
  assert.equal(elsewhereResponse.headers()['content-security-policy'].split('frame-ancestors ')[1], allowed.origin);
  const frame = frameLocator(page);
  assert.equal(await frame.getByTestId('widget-title').innerText(), 'Ask us');

  // Record every length the answer goes through while it streams.
  await widgetFrame(page).evaluate(() => {
    window.answerLengths = [];
    new MutationObserver(() => {
      const all = document.querySelectorAll('[data-testid="message"][data-role="assistant"]');
      const text = all[all.length - 1]?.querySelector('[data-testid="message-text"]');
      if (text) window.answerLengths.push(text.textContent.length);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  await frame.getByTestId('composer-input').fill('Hello from the host page');
  await frame.getByTestId('send-button').click();
  const answer = await settledAnswer(page);
  assert.match(answer, /claude-sonnet/);
  assert.match(answer, /Hello from the host page/);
  const lengths = new Set(await widgetFrame(page).evaluate(() => window.answerLengths.filter((n) => n > 0)));
  assert.ok(lengths.size >= 3, `the answer appeared at once instead of streaming: ${[...lengths]}`);
  assert.ok(page.apiStatuses.includes('POST /api/chat 200'), page.apiStatuses.join(', '));
  // The frame got a token first, and its chat carries that and nothing it could have made up.
  assert.equal(page.apiStatuses[0], 'POST /api/widget/token 200', page.apiStatuses.join(', '));
  const sent = page.apiHeaders[0];
  assert.match(sent['x-widget-token'] ?? '', /^v1\.pk_e2e_widget\./);
  assert.equal(sent['x-widget-key'], undefined);
  assert.equal(sent['x-widget-origin'], undefined);

  // The JS API: close, send (opens and sends), toggle.
  await page.evaluate(() => window.BedrockChat.close());
  assert.equal(await page.getByTestId('widget-panel').isVisible(), false);
  await page.evaluate(() => window.BedrockChat.send('Sent through the API'));
  assert.equal(await page.getByTestId('widget-panel').isVisible(), true);
  await frame.locator('[data-testid="message"][data-role="user"]').filter({ hasText: 'Sent through the API' })
    .waitFor({ timeout: 10_000 });
  assert.match(await settledAnswer(page), /Sent through the API/);
  await page.evaluate(() => window.BedrockChat.toggle());
  assert.equal(await page.evaluate(() => window.BedrockChat.isOpen), false);
  // The close button inside the frame closes the panel too.
  await page.evaluate(() => window.BedrockChat.open());
  await frame.getByTestId('widget-close').click();
  await page.waitForFunction(() => !window.BedrockChat.isOpen);

  // The conversation stays in this browser: it is back after a reload.
  await page.reload();
  await openWhenReady(page);
  await frame.locator('[data-testid="message"][data-role="user"]').filter({ hasText: 'Sent through the API' })
    .waitFor({ timeout: 10_000 });

  // Direct API use from the allowed origin: a token for the page (its browser's Origin names
  // it), then the chat with it; CORS for that origin alone.
  const direct = await page.evaluate(async ([edge, key]) => {
    const keyOnly = await fetch(`${edge}/api/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-widget-key': key },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'direct' }], route: 'generate' }),
    });
    const issued = await fetch(`${edge}/api/widget/token`, { method: 'POST', headers: { 'x-widget-key': key } });
    const { token, expires_in: expiresIn } = await issued.json();
    const response = await fetch(`${edge}/api/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-widget-token': token },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'direct' }], route: 'generate' }),
    });
    return {
      keyOnly: [keyOnly.status, (await keyOnly.json()).error.code],
      expiresIn,
      status: response.status,
      body: await response.text(),
    };
  }, [stack.url, KEY]);
  assert.deepEqual(direct.keyOnly, [401, 'unauthorized'], 'a key alone opens nothing');
  assert.equal(direct.expiresIn, 900);
  assert.equal(direct.status, 200);
  assert.match(direct.body, /event: done/);
  assert.deepEqual(await violations(page), []);
  await page.context().close();
});

/** Where the widget's parts are, and a few of their computed styles. */
async function widgetLayout(page) {
  await openWhenReady(page);
  const launcher = await page.getByTestId('widget-launcher').boundingBox();
  const frameBox = await page.getByTestId('widget-frame').boundingBox();
  const composer = await frameLocator(page).getByTestId('composer-input').boundingBox();
  const send = await frameLocator(page).getByTestId('send-button').boundingBox();
  const styles = await page.getByTestId('widget-launcher').evaluate((el) => {
    const s = getComputedStyle(el);
    return [s.fontSize, s.display, s.position, s.width, s.backgroundColor].join(' ');
  });
  const inFrame = await frameLocator(page).getByTestId('composer-input').evaluate((el) => {
    const s = getComputedStyle(el);
    return [s.fontSize, s.fontFamily, s.letterSpacing, s.display].join(' ');
  });
  return { launcher, frameBox, composer, send, styles, inFrame };
}

test('a hostile host stylesheet does not change the widget', async () => {
  const plain = await newPage();
  await plain.goto(`${allowed.origin}/`);
  const expected = await widgetLayout(plain);
  await plain.context().close();

  const hostile = await newPage();
  await hostile.goto(`${allowed.origin}/?hostile`);
  // The hostile sheet did apply to the host itself.
  assert.equal(await hostile.locator('#host-button').isVisible(), false);
  const actual = await widgetLayout(hostile);
  assert.deepEqual(actual, expected);
  assert.ok(expected.frameBox.width >= 300 && expected.frameBox.height >= 400, JSON.stringify(expected.frameBox));
  assert.deepEqual(await violations(hostile), []);
  await hostile.context().close();
});

test('the widget does not change the host page\'s styles or layout', async () => {
  const page = await newPage();
  await page.goto(`${allowed.origin}/?bare`);
  const snapshot = () => page.evaluate(() => {
    const ids = ['host-title', 'host-text', 'host-button', 'host-box', 'host-input'];
    const props = ['font-family', 'font-size', 'line-height', 'color', 'margin', 'padding', 'border', 'display', 'box-sizing', 'background-color'];
    const of = (el) => {
      const s = getComputedStyle(el);
      const r = el.getBoundingClientRect();
      return [...props.map((p) => s.getPropertyValue(p)), r.x, r.y, r.width, r.height].join('|');
    };
    return {
      elements: [document.documentElement, document.body, ...ids.map((id) => document.getElementById(id))].map(of),
      sheets: document.styleSheets.length,
      adopted: document.adoptedStyleSheets.length,
    };
  });
  const before = await snapshot();
  // The same tag the page would have, added now (currentScript works for it too).
  await page.evaluate(([edge, key]) => {
    const script = document.createElement('script');
    script.src = `${edge}/widget.js`;
    Object.assign(script.dataset, { key, route: 'generate', title: 'Ask us' });
    document.body.append(script);
  }, [stack.url, KEY]);
  await openWhenReady(page);
  assert.deepEqual(await snapshot(), before);
  await page.context().close();
});

test('on a site the key does not list, the browser refuses the frame and the loader says why', async () => {
  const page = await newPage();
  await page.goto(`${refused.origin}/`);
  const error = page.getByTestId('widget-error');
  await error.waitFor({ timeout: 30_000 });
  const message = await error.innerText();
  assert.match(message, new RegExp(`not enabled on ${refused.origin.replaceAll('.', '\\.')}`));
  // The frame never ran here: no token asked for, no API call at all.
  assert.deepEqual(page.apiStatuses, []);
  assert.ok(
    page.consoleErrors.some((m) => m.includes('frame-ancestors')),
    `the browser refused the frame: ${page.consoleErrors.join(' | ')}`,
  );
  assert.match(await page.getByTestId('widget-launcher').getAttribute('aria-label'), /^Chat unavailable/);
  assert.ok(page.consoleErrors.some((m) => m.includes('not enabled on')), 'the console names the problem too');
  assert.equal(await page.evaluate(() => window.BedrockChat.error), message);
  // The panel does not open; the launcher shows the message again.
  await page.getByTestId('widget-launcher').click();
  assert.equal(await error.isVisible(), false);
  await page.getByTestId('widget-launcher').click();
  assert.equal(await error.isVisible(), true);
  assert.equal(await page.getByTestId('widget-panel').isVisible(), false);

  // Calling the API directly from this origin is refused (preflights get a 403 and no CORS
  // headers), so the browser sends neither a token request nor a chat.
  const direct = await page.evaluate(async ([edge, key]) => {
    const attempt = async (path, headers, body) => {
      try {
        await fetch(`${edge}${path}`, { method: 'POST', headers, body });
        return 'answered';
      } catch {
        return 'blocked';
      }
    };
    return [
      await attempt('/api/widget/token', { 'x-widget-key': key }),
      await attempt('/api/chat', { 'content-type': 'application/json', 'x-widget-key': key },
        JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] })),
    ];
  }, [stack.url, KEY]);
  assert.deepEqual(direct, ['blocked', 'blocked']);
  await page.context().close();
});

test('outside a browser, a key and a made-up origin open nothing', async () => {
  const ask = { messages: [{ role: 'user', content: 'hi' }], route: 'generate' };
  const forged = await fetch(`${stack.url}/api/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-widget-key': KEY, 'x-widget-origin': allowed.origin },
    body: JSON.stringify(ask),
  });
  assert.equal(forged.status, 401);
  assert.equal((await forged.json()).error.code, 'unauthorized');
  const madeUp = await fetch(`${stack.url}/api/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-widget-token': `v1.${KEY}.aHR0cA.${'0'.repeat(32)}.9999999999.AAAA` },
    body: JSON.stringify(ask),
  });
  assert.equal(madeUp.status, 401);
  // A token for the listed site is not one for another page's origin.
  const issued = await fetch(`${stack.url}/api/widget/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-widget-key': KEY, origin: refused.origin },
    body: JSON.stringify({ origin: allowed.origin }),
  });
  assert.equal(issued.status, 403);
});

test('a refused token is renewed and the chat goes on', async () => {
  const page = await newPage();
  let refusedOnce = false;
  await page.context().route(`${stack.url}/api/chat`, async (route) => {
    if (refusedOnce) return route.continue();
    refusedOnce = true;
    return route.fulfill({
      status: 401,
      contentType: 'application/json',
      body: JSON.stringify({ error: { code: 'token_expired', message: 'The widget token has expired.' } }),
    });
  });
  await page.goto(`${allowed.origin}/`);
  await openWhenReady(page);
  await frameLocator(page).getByTestId('composer-input').fill('After a renewal');
  await frameLocator(page).getByTestId('send-button').click();
  assert.match(await settledAnswer(page), /After a renewal/);
  const tokens = page.apiStatuses.filter((s) => s === 'POST /api/widget/token 200');
  assert.equal(tokens.length, 2, page.apiStatuses.join(', '));
  const [first, second] = page.apiHeaders.map((h) => h['x-widget-token']);
  assert.ok(first && second && first !== second, 'the chat was sent again with a new token');
  await page.context().close();
});

test('a bad or missing key fails visibly', async () => {
  const cases = [
    ['key=pk_not_a_real_key', /not enabled on .*: its key does not exist or does not list this site/],
    ['nokey', /no key: add data-key/],
  ];
  for (const [query, expected] of cases) {
    const page = await newPage();
    await page.goto(`${allowed.origin}/?${query}`);
    const error = page.getByTestId('widget-error');
    await error.waitFor({ timeout: 30_000 });
    assert.match(await error.innerText(), expected, query);
    assert.ok(page.consoleErrors.some((m) => expected.test(m)), `${query}: nothing in the console`);
    assert.equal(await page.getByTestId('widget-launcher').isVisible(), true);
    await page.context().close();
  }
});
