// Front-end render cost per token, in headless Chromium against a running stack.
//
//   node tests/bench/render.mjs EDGE_URL FAKE_URL      (scripts/bench runs it; prints one JSON line)
//
// The fake Bedrock is told to answer every call with a long markdown text, one word-sized delta
// every PACING_MS. The chat page sends a message (with max_tokens raised so the answer is not cut);
// while the answer streams, the renderer's main-thread task time (CDP Performance.getMetrics
// TaskDuration) is read when the rendered answer reaches the edges of two windows (about 1k and
// about 20k characters), and the deltas the page received meanwhile are counted by a pass-through
// wrapper around the page's fetch body. Cost per delta = task time in the window / deltas in it,
// less the cost of the polls this script made during the window.
import { launchBrowser } from '../e2e/stack.mjs';

const [edgeUrl, fakeUrl] = process.argv.slice(2);
if (!edgeUrl || !fakeUrl) {
  console.error('usage: node tests/bench/render.mjs EDGE_URL FAKE_URL');
  process.exit(2);
}
const PACING_MS = 10;
const ANSWER_CHARS = 24_000;
const WINDOWS = [
  [1_000, 2_500],
  [20_000, 21_500],
];
const POLL_MS = 50;

/** A deterministic markdown answer of at least `chars` characters. */
function markdownAnswer(chars) {
  const words = ['edge', 'stream', 'token', 'worker', 'latency', 'bedrock', 'render', 'signal',
    'frame', 'client', 'answer', 'route', 'model', 'region', 'budget', 'cache'];
  const sentence = (n, i) => {
    const picked = Array.from({ length: n }, (_, k) => words[(i * 7 + k * 3) % words.length]);
    picked[0] = picked[0][0].toUpperCase() + picked[0].slice(1);
    return `${picked.join(' ')}.`;
  };
  let text = '';
  for (let i = 0; text.length < chars; i++) {
    text += `## Section ${i + 1}\n\n`;
    text += `${sentence(12, i)} It has **bold words**, *some emphasis*, \`inline code\` and a `
      + `[link](https://example.com/${i}). ${sentence(18, i + 1)} ${sentence(9, i + 2)}\n\n`;
    text += `- ${sentence(6, i + 3)}\n- ${sentence(8, i + 4)}\n- ${sentence(5, i + 5)}\n\n`;
    if (i % 3 === 0) {
      text += '```rust\nfn main() {\n    println!("hello from section ' + i + '");\n}\n```\n\n';
    }
    text += `${sentence(20, i + 6)} ${sentence(14, i + 7)}\n\n`;
  }
  return text;
}

async function post(path, body) {
  const response = await fetch(`${fakeUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const answer = markdownAnswer(ANSWER_CHARS);
await post('/_fake/replies', { model: '*', text: answer });
await post('/_fake/faults', { model: '*', fault: { kind: 'slow_tokens', ms: PACING_MS } });

const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  // Count SSE `delta` events as the page's fetch receives them (a byte search, passing every
  // chunk through unchanged).
  await page.addInitScript(() => {
    window.__deltas = 0;
    const needle = new TextEncoder().encode('event: delta');
    const original = window.fetch;
    window.fetch = async (...args) => {
      const response = await original.apply(window, args);
      const type = response.headers.get('content-type') || '';
      if (!type.startsWith('text/event-stream') || !response.body) return response;
      let tail = new Uint8Array(0);
      const counter = new TransformStream({
        transform(chunk, controller) {
          const bytes = new Uint8Array(tail.length + chunk.length);
          bytes.set(tail);
          bytes.set(chunk, tail.length);
          outer: for (let i = 0; i + needle.length <= bytes.length; i++) {
            for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
            window.__deltas++;
          }
          tail = bytes.slice(Math.max(0, bytes.length - needle.length + 1));
          controller.enqueue(chunk);
        },
      });
      return new Response(response.body.pipeThrough(counter), {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      });
    };
  });
  // Ask for a long answer: the page leaves max_tokens to the edge's default (1,024).
  await page.route('**/api/chat', async (route) => {
    const body = JSON.parse(route.request().postData() || '{}');
    await route.continue({ postData: JSON.stringify({ ...body, max_tokens: 8192 }) });
  });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const metrics = async () => {
    const { metrics: list } = await cdp.send('Performance.getMetrics');
    const get = (name) => (list.find((m) => m.name === name)?.value ?? 0) * 1000;
    return {
      task: get('TaskDuration'),
      script: get('ScriptDuration'),
      layout: get('LayoutDuration'),
      style: get('RecalcStyleDuration'),
    };
  };
  const poll = () => page.evaluate(() => {
    const answers = document.querySelectorAll('[data-testid="message"][data-role="assistant"]');
    const last = answers[answers.length - 1];
    const text = last?.querySelector('[data-testid="message-text"]');
    return {
      chars: text ? text.textContent.length : 0,
      busy: last?.getAttribute('aria-busy') === 'true',
      deltas: window.__deltas,
    };
  });

  await page.goto(edgeUrl);
  await page.getByTestId('composer-input').waitFor({ timeout: 30_000 });
  await sleep(500);

  // What polling alone costs (with whatever the idle page does between polls).
  const calibration = 20;
  const before = await metrics();
  for (let i = 0; i < calibration; i++) {
    await poll();
    await sleep(POLL_MS);
  }
  const pollMs = ((await metrics()).task - before.task) / calibration;

  await page.getByTestId('composer-input').fill('Write a long answer, please.');
  await page.getByTestId('send-button').click();

  const windows = [];
  const deadline = Date.now() + 180_000;
  let state = await poll();
  for (const [from, to] of WINDOWS) {
    while (state.chars < from) {
      if (Date.now() > deadline) throw new Error(`the answer stopped at ${state.chars} chars`);
      await sleep(POLL_MS);
      state = await poll();
    }
    const start = { ...(await metrics()), ...state };
    let polls = 0;
    while (state.chars < to && (state.busy || state.chars === 0)) {
      if (Date.now() > deadline) throw new Error(`the answer stopped at ${state.chars} chars`);
      await sleep(POLL_MS);
      state = await poll();
      polls++;
    }
    const end = { ...(await metrics()), ...state };
    const deltas = end.deltas - start.deltas;
    if (deltas < 20) throw new Error(`only ${deltas} deltas in ${from}..${to}: did the answer stream?`);
    const per = (key, less = 0) => (end[key] - start[key] - less) / deltas;
    windows.push({
      from_chars: start.chars,
      to_chars: end.chars,
      deltas,
      per_delta_ms: per('task', polls * pollMs),
      script_per_delta_ms: per('script'),
      layout_per_delta_ms: per('layout'),
      style_per_delta_ms: per('style'),
    });
  }
  while (state.busy) {
    if (Date.now() > deadline) throw new Error('the answer did not finish');
    await sleep(200);
    state = await poll();
  }
  console.log(JSON.stringify({
    windows,
    pacing_ms: PACING_MS,
    answer_chars: answer.length,
    rendered_chars: state.chars,
    total_deltas: state.deltas,
    poll_ms: pollMs,
  }));
} finally {
  await browser.close();
  await fetch(`${fakeUrl}/_fake/faults`, { method: 'DELETE' }).catch(() => {});
}
