// The chat client's controls in headless Chromium against wrangler dev and the fake Bedrock:
// stop, regenerate, edit and resend, conversations across a reload, route switching, errors.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, launchBrowser, setFault, clearFaults } from './stack.mjs';

let stack;
let browser;
let page;

before(async () => {
  stack = await startStack();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

beforeEach(async () => {
  await clearFaults(stack.fakeUrl);
  await page?.close();
  // A fresh browser context: empty localStorage for every test.
  const context = await browser.newContext();
  page = await context.newPage();
  await page.goto(stack.url);
});

const answers = () => page.locator('[data-testid="message"][data-role="assistant"]');
const users = () => page.locator('[data-testid="message"][data-role="user"]');

async function send(text) {
  await page.getByTestId('composer-input').fill(text);
  await page.getByTestId('composer-input').press('Enter');
}

/** Waits until the last answer has stopped streaming and returns its text. */
async function settledAnswer() {
  await page.waitForFunction(() => {
    const all = document.querySelectorAll('[data-testid="message"][data-role="assistant"]');
    const last = all[all.length - 1];
    return last && last.getAttribute('aria-busy') !== 'true';
  }, null, { timeout: 20_000 });
  return answers().last().getByTestId('message-text').innerText();
}

test('Stop ends a slow answer part-way and keeps what arrived', async () => {
  await setFault(stack.fakeUrl, { model: '*', fault: { kind: 'slow_tokens', ms: 300 } });
  await send('Please answer slowly');
  await answers().last().getByTestId('message-text').filter({ hasText: 'Hello' }).waitFor({ timeout: 20_000 });
  await page.getByTestId('stop-button').click();
  const kept = await settledAnswer();
  assert.match(kept, /Hello/);
  assert.doesNotMatch(kept, /word by word/, 'the whole answer arrived despite Stop');
  assert.equal(await page.getByTestId('stop-button').count(), 0, 'Stop is still offered after stopping');
});

test('Regenerate replaces the last answer with a fresh one', async () => {
  await send('First question');
  const first = await settledAnswer();
  await answers().last().getByTestId('regenerate-button').click();
  const second = await settledAnswer();
  assert.equal(await answers().count(), 1, 'regenerate added an answer instead of replacing it');
  assert.equal(second, first, 'the fake is deterministic, so the same question gives the same answer');
});

test('Editing an earlier message resends it and drops what followed', async () => {
  await send('Original wording');
  await settledAnswer();
  await send('A follow-up');
  await settledAnswer();
  await users().first().getByTestId('edit-button').click();
  await page.getByTestId('edit-input').fill('Edited wording');
  await page.getByTestId('edit-send').click();
  const answer = await settledAnswer();
  assert.equal(await users().count(), 1);
  assert.match(await users().first().innerText(), /Edited wording/);
  assert.match(answer, /You said: Edited wording/);
});

test('A conversation survives a reload and appears in the sidebar', async () => {
  await send('Remember this conversation');
  await settledAnswer();
  await page.reload();
  await page.getByTestId('conversation-item').first().waitFor();
  await page.getByTestId('conversation-item').first().click();
  await users().first().filter({ hasText: 'Remember this conversation' }).waitFor({ timeout: 10_000 });
  assert.match(await answers().last().getByTestId('message-text').innerText(), /Remember this conversation/);
});

test('Switching the route gets an answer from another model', async () => {
  await page.locator('[data-testid="route-picker"] option[value="classify"]').waitFor({ state: 'attached' });
  await page.getByTestId('route-picker').selectOption('classify');
  await send('Which model are you?');
  const answer = await settledAnswer();
  assert.match(answer, /haiku/i);
  assert.match(await answers().last().getByTestId('answer-meta').innerText(), /haiku/i);
});

test('A Bedrock failure shows a clear error with Retry, and Retry recovers', async () => {
  // A model error is final (a target that refuses to serve, such as access denied, is passed
  // over for the next one instead, which answers).
  await setFault(stack.fakeUrl, { model: '*', times: 1, fault: { kind: 'model_error' } });
  await send('This one fails');
  const error = answers().last().getByTestId('message-error');
  await error.waitFor({ timeout: 20_000 });
  assert.ok((await error.innerText()).length > 10, 'the error says nothing');
  await answers().last().getByTestId('retry-button').click();
  assert.match(await settledAnswer(), /You said: This one fails/);
  assert.equal(await page.getByTestId('message-error').count(), 0);
});
