// Starts the local stack (fake Bedrock + wrangler dev) for browser tests and a headless
// Chromium driven by playwright-core. The stack is the same Rust launcher scripts/dev uses.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Starts `target/debug/stack`; resolves with { url, fakeUrl, stop }. */
export async function startStack(extraArgs = []) {
  const child = spawn(join(root, 'target/debug/stack'), ['--port', '0', '--fake-port', '0', '--quiet', ...extraArgs], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  let url;
  let fakeUrl;
  const ready = new Promise((resolve, reject) => {
    lines.on('line', (line) => {
      if (line.startsWith('edge: ')) url = line.slice(6);
      if (line.startsWith('fake-bedrock: ')) fakeUrl = line.slice(14);
      if (line === 'ready') resolve();
    });
    child.on('exit', (code) => reject(new Error(`stack exited early with ${code}`)));
  });
  await ready;
  return {
    url,
    fakeUrl,
    async stop() {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** A fresh headless Chromium (Debian's, never a downloaded one); playwright gives it a new profile. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-quic',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

/** Sets a fault on the fake Bedrock through its control API. */
export async function setFault(fakeUrl, fault) {
  const response = await fetch(`${fakeUrl}/_fake/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(fault),
  });
  if (!response.ok) throw new Error(`fault not set: ${response.status} ${await response.text()}`);
}

export async function clearFaults(fakeUrl) {
  await fetch(`${fakeUrl}/_fake/faults`, { method: 'DELETE' });
}
