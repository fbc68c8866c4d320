// Background jobs from the chat page: with "Background job" on, a prompt goes to POST
// /api/jobs (the Queue consumer answers it), the composer shows the job's status, and the
// answer appears as an assistant message when the job is done.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, launchBrowser } from './stack.mjs';

let stack;
let browser;

before(async () => {
  stack = await startStack();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

test('a prompt sent as a background job shows its status, then the answer', async () => {
  const page = await browser.newPage();
  const jobRequests = [];
  page.on('request', (request) => {
    if (request.url().includes('/api/jobs')) jobRequests.push(`${request.method()} ${new URL(request.url()).pathname}`);
  });
  await page.goto(stack.url);
  await page.getByTestId('background-toggle').check();
  await page.getByTestId('composer-input').fill('Hello from a background job');
  await page.getByTestId('send-button').click();

  await page.getByTestId('job-status').filter({ hasText: /queued|running|done/ }).waitFor({ timeout: 20_000 });
  await page.getByTestId('job-status').filter({ hasText: 'done' }).waitFor({ timeout: 30_000 });
  const answer = page.locator('[data-testid="message"][data-role="assistant"]').last();
  const text = await answer.getByTestId('message-text').innerText();
  assert.match(text, /Hello from a background job/);
  assert.match(await answer.getByTestId('answer-meta').innerText(), /claude/);
  assert.equal(await page.getByTestId('message-error').count(), 0);
  assert.ok(jobRequests.includes('POST /api/jobs'), `no job was submitted: ${jobRequests}`);
  assert.ok(jobRequests.some((r) => r.startsWith('GET /api/jobs/job_')), `the job was not polled: ${jobRequests}`);
  // The client id the jobs belong to survives in localStorage.
  const clientId = await page.evaluate(() => localStorage.getItem('bedrock-edge-chat.client-id'));
  assert.match(clientId ?? '', /^[0-9a-f]{32}$/);
  await page.close();
});
