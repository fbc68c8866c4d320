// Serves the built Worker on Miniflare directly: the runtime `wrangler dev` uses (workerd
// underneath, with the same Worker options wrangler derives from wrangler.toml), but without
// wrangler's ProxyWorker and InspectorProxyWorker in front of it. For measuring the Worker
// itself; `wrangler dev` stays the way to develop. The stack launcher (tests/src/stack.rs)
// starts it; apply the D1 migrations first with the same --persist-to, as for wrangler dev.
//
//   node scripts/lib/miniflare.mjs --config edge/wrangler.toml --env-file worker.env \
//     --persist-to STATE_DIR [--ip 127.0.0.1] [--port 8787] [--hanging-object BINDING]...
//
// `--hanging-object HEALTH` serves that Durable Object binding with an object of the same
// class name that never answers (a second worker of this script): for testing what the Worker
// does when an object is slow.
//
// Prints `Ready on http://IP:PORT` once the Worker answers requests, then the Worker's console
// output (errors and warnings on stderr). SIGTERM or SIGINT stops workerd and exits.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Log, LogLevel, Miniflare } from 'miniflare';
import { unstable_getMiniflareWorkerOptions, unstable_readConfig } from 'wrangler';

const USAGE =
  'usage: node scripts/lib/miniflare.mjs --config FILE --env-file FILE --persist-to DIR [--ip IP] [--port PORT]';

const { values: args } = parseArgs({
  options: {
    config: { type: 'string' },
    'env-file': { type: 'string' },
    'persist-to': { type: 'string' },
    ip: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '8787' },
    'hanging-object': { type: 'string', multiple: true, default: [] },
    help: { type: 'boolean', short: 'h' },
  },
});
if (args.help || !args.config || !args['env-file'] || !args['persist-to']) {
  console.error(USAGE);
  process.exit(args.help ? 0 : 2);
}

// The same reading of wrangler.toml and the env file as `wrangler dev`: bindings, Durable
// Objects, queues, D1, rate limits, assets, compatibility date and module rules (the .wasm).
const config = unstable_readConfig({ config: path.resolve(args.config) });
const { workerOptions, main, externalWorkers } = unstable_getMiniflareWorkerOptions(config, undefined, {
  envFiles: [path.resolve(args['env-file'])],
});

const scriptPath = path.resolve(path.dirname(config.configPath), main);

// Objects that never answer: each named binding is pointed at a class of that name in a
// worker whose objects wait forever.
const HANGING = 'hanging-objects';
const hanging = args['hanging-object'];
const hangingClasses = [];
for (const binding of hanging) {
  const declared = workerOptions.durableObjects?.[binding];
  if (!declared) {
    console.error(`--hanging-object ${binding}: no such Durable Object binding`);
    process.exit(2);
  }
  const className = typeof declared === 'string' ? declared : declared.className;
  hangingClasses.push(className);
  workerOptions.durableObjects[binding] = { className, scriptName: HANGING };
}
const hangingWorkers = hanging.length === 0 ? [] : [{
  name: HANGING,
  modules: true,
  script: [
    ...hangingClasses.map(
      (name) => `export class ${name} { async fetch() { await new Promise(() => {}); } }`,
    ),
    'export default { fetch() { return new Response(null, { status: 404 }); } };',
  ].join('\n'),
  durableObjects: Object.fromEntries(hangingClasses.map((name) => [`HANG_${name}`, name])),
}];

const mf = new Miniflare({
  host: args.ip,
  port: Number(args.port),
  // wrangler keeps its state in `<persist-to>/v3`; `wrangler d1 migrations apply` writes there.
  defaultPersistRoot: path.join(path.resolve(args['persist-to']), 'v3'),
  // No lookup of the `cf` object on the network: loopback only.
  cf: false,
  // Like `wrangler dev`: no line per request, /cdn-cgi/handler/* triggers available.
  logRequests: false,
  unsafeTriggerHandlers: true,
  log: new Log(LogLevel.INFO),
  // The Worker's console output, one line per call.
  handleStructuredLogs: ({ level, message }) => {
    const stream = level === 'error' || level === 'warn' ? process.stderr : process.stdout;
    stream.write(message.endsWith('\n') ? message : `${message}\n`);
  },
  workers: [
    {
      name: config.name,
      modules: true,
      // The built module itself (build/index.js, importing index_bg.wasm by the module rules),
      // not a bundle of it as `wrangler dev` makes. Module names are relative to its directory,
      // which may lie outside the working directory (a snapshot of the build).
      scriptPath,
      modulesRoot: path.dirname(scriptPath),
      ...workerOptions,
    },
    ...externalWorkers,
    ...hangingWorkers,
  ],
});

const url = await mf.ready;
console.log(`Ready on ${url.origin}`);

// Stops workerd once, then exits; a second signal while stopping exits at once.
let stopping = false;
async function stop() {
  if (stopping) process.exit(1);
  stopping = true;
  await mf.dispose();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
