// The chat page in headless Chromium against wrangler dev and the fake Bedrock: what a person
// sees when they type a message and send it.
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

test('a sent message gets a streamed answer that names the model', async () => {
  const page = await browser.newPage();
  await page.goto(stack.url);
  // Record every length the answer text goes through while it streams.
  await page.evaluate(() => {
    window.answerLengths = [];
    new MutationObserver(() => {
      const answers = document.querySelectorAll('[data-testid="message"][data-role="assistant"]');
      const text = answers[answers.length - 1]?.querySelector('[data-testid="message-text"]');
      if (text) window.answerLengths.push(text.textContent.length);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  await page.getByTestId('composer-input').fill('Hello from the browser test');
  await page.getByTestId('send-button').click();

  const answer = page.locator('[data-testid="message"][data-role="assistant"]').last();
  await answer.getByTestId('answer-meta').waitFor({ timeout: 20_000 });
  await page.waitForFunction(
    () => {
      const answers = document.querySelectorAll('[data-testid="message"][data-role="assistant"]');
      const last = answers[answers.length - 1];
      return last && last.getAttribute('aria-busy') !== 'true' && last.textContent.includes('You said');
    },
    null,
    { timeout: 20_000 },
  );
  const full = await answer.getByTestId('message-text').innerText();
  assert.match(full, /claude-sonnet/);
  assert.match(full, /Hello from the browser test/);
  const lengths = new Set(await page.evaluate(() => window.answerLengths.filter((n) => n > 0)));
  assert.ok(lengths.size >= 3, `the answer appeared at once instead of streaming: ${[...lengths]}`);
  assert.equal(await page.getByTestId('message-error').count(), 0);
  await page.close();
});
