// Starts the wasm app. Trunk's own loader is an inline script; this external module replaces
// it so the page runs under `script-src 'self' 'wasm-unsafe-eval'`. Trunk.toml's
// `pattern_script` puts the hashed file names in this tag's data attributes.
// In the widget frame it first tells the loader on the host page that the frame was allowed
// to load (a frame refused by `frame-ancestors` never says so); the message holds nothing else.
if (location.pathname === "/widget/frame.html" && window.parent !== window) {
  window.parent.postMessage(JSON.stringify({ bedrockChat: "loading" }), "*");
}
const tag = document.querySelector("script[data-wasm]");
const { default: init } = await import(tag.dataset.js);
await init({ module_or_path: tag.dataset.wasm });
