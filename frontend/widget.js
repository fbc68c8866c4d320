/*! Bedrock chat widget loader. One tag on any page:
 *   <script src="https://EDGE/widget.js" data-key="pk_..." async></script>
 * Options (data-*): key (required), route, title, position (bottom-right | bottom-left),
 * theme (auto | light | dark). JS API: BedrockChat.open(), .close(), .toggle(), .send(text),
 * and the read-only .isOpen, .ready and .error (why it cannot work here, or null).
 *
 * The chat itself runs in an iframe served by the edge (its origin, its CSP, its styles); this
 * file only draws the launcher, inside a shadow root, and creates the frame when the page is
 * idle or the launcher is first used. It needs nothing from the page's CSP but this script and
 * `frame-src` for the edge: no inline script, no inline style (CSSOM and constructed sheets). */
(() => {
  "use strict";
  const TAG = "[bedrock-chat]";
  const script = document.currentScript;
  if (!script || !script.src) {
    console.error(`${TAG} load widget.js with <script src="…/widget.js" data-key="…">`);
    return;
  }
  if (window.BedrockChat) {
    console.warn(`${TAG} widget.js is on this page twice; the first one is used.`);
    return;
  }
  const edge = new URL(script.src).origin;
  const data = script.dataset;
  const opt = {
    key: (data.key || "").trim(),
    route: (data.route || "").trim(),
    title: (data.title || "").trim() || "Chat",
    side: data.position === "bottom-left" ? "left" : "right",
    theme: data.theme === "light" || data.theme === "dark" ? data.theme : "auto",
  };

  const CSS = `
    [hidden] { display: none !important; }
    .root {
      all: initial; display: block; color: #1d1d1f;
      font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
      --accent: #0b57d0; --accent-text: #fff; --danger: #b3261e; --danger-bg: #fce8e6;
    }
    .root.theme-dark { --accent: #a8c7fa; --accent-text: #062e6f; --danger: #f2b8b5; --danger-bg: #4b1f1c; }
    @media (prefers-color-scheme: dark) {
      .root.theme-auto { --accent: #a8c7fa; --accent-text: #062e6f; --danger: #f2b8b5; --danger-bg: #4b1f1c; }
    }
    .launcher {
      all: initial; box-sizing: border-box; position: fixed; bottom: 20px; width: 56px; height: 56px;
      display: flex; align-items: center; justify-content: center; border-radius: 50%;
      background: var(--accent); color: var(--accent-text); cursor: pointer;
      box-shadow: 0 4px 16px rgba(0, 0, 0, 0.25);
    }
    .launcher:focus-visible { outline: 3px solid var(--accent); outline-offset: 3px; }
    .launcher svg { width: 26px; height: 26px; fill: none; stroke: currentColor; stroke-width: 2;
      stroke-linecap: round; stroke-linejoin: round; }
    .failed .launcher { background: var(--danger); color: #fff; }
    .panel, .notice { position: fixed; bottom: 88px; box-sizing: border-box; }
    .panel {
      display: block; width: 380px; height: 560px; max-width: calc(100vw - 40px);
      max-height: calc(100vh - 108px); border-radius: 12px; overflow: hidden; background: #fff;
      box-shadow: 0 8px 32px rgba(0, 0, 0, 0.3);
    }
    .panel iframe { all: initial; display: block; width: 100%; height: 100%; border: 0; }
    .notice {
      display: block; max-width: min(320px, calc(100vw - 40px)); padding: 10px 12px;
      border-radius: 8px; border: 1px solid var(--danger); background: var(--danger-bg);
      color: var(--danger); box-shadow: 0 4px 16px rgba(0, 0, 0, 0.2);
    }
    .right .launcher, .right .panel, .right .notice { right: 20px; }
    .left .launcher, .left .panel, .left .notice { left: 20px; }
    @media (max-width: 480px) {
      .panel { inset: 0; width: 100%; height: 100%; max-width: none; max-height: none; border-radius: 0; }
      .open .launcher { display: none; }
    }`;

  const svg = (paths) => {
    const ns = "http://www.w3.org/2000/svg";
    const icon = document.createElementNS(ns, "svg");
    icon.setAttribute("viewBox", "0 0 24 24");
    icon.setAttribute("aria-hidden", "true");
    for (const d of paths) {
      const path = document.createElementNS(ns, "path");
      path.setAttribute("d", d);
      icon.append(path);
    }
    return icon;
  };
  const el = (tag, attrs) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    return node;
  };

  // The host element: a tag of its own, reset with !important inline declarations (set through
  // the CSSOM, which a CSP allows), so no rule of the page reaches it or, through inheritance,
  // the shadow tree below it.
  const host = document.createElement("bedrock-chat-widget");
  for (const [name, value] of [
    ["all", "initial"], ["display", "block"], ["position", "fixed"], ["z-index", "2147483647"],
    ["width", "0"], ["height", "0"], ["bottom", "0"], ["right", "0"],
  ]) host.style.setProperty(name, value, "important");
  const shadow = host.attachShadow({ mode: "open" });
  if ("adoptedStyleSheets" in shadow && "replaceSync" in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    shadow.adoptedStyleSheets = [sheet];
  } else {
    shadow.append(Object.assign(document.createElement("style"), { textContent: CSS }));
  }

  const root = el("div", { class: `root ${opt.side} theme-${opt.theme}` });
  const panel = el("div", { class: "panel", "data-testid": "widget-panel", hidden: "" });
  const notice = el("div", { class: "notice", role: "alert", "data-testid": "widget-error", hidden: "" });
  const launcher = el("button", {
    type: "button", class: "launcher", "data-testid": "widget-launcher",
    "aria-label": `Open chat: ${opt.title}`, "aria-expanded": "false", title: opt.title,
  });
  const chatIcon = svg(["M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"]);
  const closeIcon = svg(["M18 6 6 18", "M6 6l12 12"]);
  launcher.append(chatIcon);
  root.append(panel, notice, launcher);
  shadow.append(root);

  let frame = null;
  let heard = false;
  let ready = false;
  let isOpen = false;
  let failed = null;
  const outbox = [];

  const post = (message) => {
    if (frame && frame.contentWindow) frame.contentWindow.postMessage(JSON.stringify(message), edge);
  };
  const flush = () => {
    while (ready && outbox.length) post({ bedrockChat: "send", text: outbox.shift() });
  };

  /** Shows why the widget cannot work here, next to the launcher, and in the console. */
  const fail = (message) => {
    if (failed) return;
    failed = message;
    console.error(`${TAG} ${message}`);
    setOpen(false);
    notice.textContent = message;
    notice.hidden = false;
    root.classList.add("failed");
    launcher.setAttribute("aria-label", `Chat unavailable: ${message}`);
  };

  const frameUrl = () => {
    const url = new URL("/widget/frame.html", edge);
    const params = { key: opt.key, route: opt.route, title: opt.title, theme: opt.theme, origin: location.origin };
    for (const [name, value] of Object.entries(params)) if (value) url.searchParams.set(name, value);
    return url.href;
  };

  const ensureFrame = () => {
    if (frame || failed) return;
    frame = el("iframe", {
      src: frameUrl(), title: opt.title, "data-testid": "widget-frame", allow: "clipboard-write",
      sandbox: "allow-scripts allow-same-origin allow-forms allow-popups allow-popups-to-escape-sandbox",
    });
    frame.addEventListener("load", () => {
      // The edge lets only the key's origins frame the chat (frame-ancestors): anywhere else
      // the browser refuses to show it, and a refused frame never says a word.
      setTimeout(() => {
        if (!heard) {
          fail(`This chat widget is not enabled on ${location.origin}: its key does not exist or `
            + "does not list this site (check the data-key of its script tag).");
        }
      }, 3000);
      setTimeout(() => {
        if (!ready) fail("The chat did not start. Please reload the page to try again.");
      }, 30000);
    });
    panel.append(frame);
  };

  function setOpen(next) {
    isOpen = next && !failed;
    panel.hidden = !isOpen;
    root.classList.toggle("open", isOpen);
    launcher.setAttribute("aria-expanded", String(isOpen));
    if (!failed) launcher.setAttribute("aria-label", `${isOpen ? "Close" : "Open"} chat: ${opt.title}`);
    launcher.replaceChildren(isOpen ? closeIcon : chatIcon);
  }

  const open = () => {
    if (failed) {
      notice.hidden = false;
      return;
    }
    ensureFrame();
    setOpen(true);
    if (ready) post({ bedrockChat: "open" });
    frame.focus();
  };
  const close = () => {
    if (failed) {
      notice.hidden = true;
      return;
    }
    if (!isOpen) return;
    const hadFocus = shadow.activeElement === frame;
    setOpen(false);
    post({ bedrockChat: "close" });
    if (hadFocus) launcher.focus();
  };
  const toggle = () => ((failed ? !notice.hidden : isOpen) ? close() : open());
  const send = (text) => {
    if (typeof text !== "string" || !text.trim()) throw new TypeError("BedrockChat.send needs some text");
    open();
    if (failed) return false;
    outbox.push(text);
    flush();
    return true;
  };

  window.addEventListener("message", (event) => {
    if (!frame || event.source !== frame.contentWindow || event.origin !== edge) return;
    if (typeof event.data !== "string") return;
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    heard = true;
    switch (message && message.bedrockChat) {
      case "ready":
        ready = true;
        if (isOpen) post({ bedrockChat: "open" });
        flush();
        break;
      case "error":
        fail(String(message.message || "The chat is unavailable."));
        break;
      case "close":
        close();
        break;
    }
  });
  launcher.addEventListener("click", toggle);

  window.BedrockChat = Object.freeze({
    open, close, toggle, send,
    get isOpen() { return isOpen; },
    get ready() { return ready; },
    get error() { return failed; },
  });

  const mount = () => {
    document.body.append(host);
    if (!opt.key) {
      fail('This chat widget has no key: add data-key="pk_…" to its script tag.');
      return;
    }
    // The frame (and the wasm) loads once the page is idle, or on first use if sooner.
    const idle = window.requestIdleCallback || ((fn) => setTimeout(fn, 1000));
    const preload = () => idle(ensureFrame, { timeout: 3000 });
    if (document.readyState === "complete") preload();
    else window.addEventListener("load", preload, { once: true });
  };
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount, { once: true });
})();
