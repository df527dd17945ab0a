// Drives the chat page in headless Chromium (Debian's /usr/bin/chromium via playwright-core).
//
//   node tests/e2e/chat_page.mjs <scenario> <base-url> <artifacts-dir>
//
// Run by tests/e2e/test_chat_page.py, which owns the socketsvc server. To stop or start it, this
// script writes "@@stop" / "@@start" on stdout and waits for one line ("ok") on stdin.
// Exit status 0 means every check passed.
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const require = createRequire(new URL("../../clients/js/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const [scenario, baseUrl, artifacts] = process.argv.slice(2);
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-sync",
  "--disable-quic",
];
const PHONE = { width: 375, height: 740 };
const DESKTOP = { width: 1280, height: 800 };
const NETWORK_NOISE = /Failed to load resource|WebSocket connection to|ERR_CONNECTION_REFUSED/;
const WAIT = Number(process.env.E2E_WAIT_MS || 10000);

// -- talking to the pytest side ---------------------------------------------------------------

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function server(command) {
  process.stdout.write(`@@${command}\n`);
  const { value } = await lines.next();
  assert.equal(value, "ok", `server ${command} failed: ${value}`);
}
const log = (...parts) => console.log(`[${scenario}]`, ...parts);

// -- page helpers -----------------------------------------------------------------------------

const pageErrors = [];

async function openPage(context, query) {
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on("pageerror", (err) => pageErrors.push(`${query}: ${err.message}`));
  page.on("console", (msg) => {
    // the browser logs refused connections while the server is down; those are expected
    if (msg.type() === "error" && !NETWORK_NOISE.test(msg.text())) pageErrors.push(`${query}: console: ${msg.text()}`);
  });
  await page.goto(`${baseUrl}/?${query}`);
  await state(page, "connected");
  return page;
}

function state(page, wanted) {
  return page.locator(`#state[data-state="${wanted}"]`).waitFor();
}

async function joinAs(page, name, room) {
  await page.fill("#name", name);
  await page.fill("#room", room);
  await page.click("#join-button");
  await page.locator("#chat-view").waitFor();
  await page.locator(".members li.me", { hasText: name }).waitFor();
}

async function members(page, expected) {
  await page.waitForFunction(
    (names) =>
      JSON.stringify([...document.querySelectorAll("#members li")].map((li) => li.firstChild.textContent)) ===
      JSON.stringify(names),
    expected,
  );
}

async function send(page, text) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
  const mine = page.locator(".msg.mine:not(.pending)", { hasText: text });
  await mine.last().waitFor();
  return mine.last();
}

async function received(page, name, text) {
  const line = page.locator(".msg:not(.mine)").filter({ has: page.locator(".bubble", { hasText: text }) });
  await line.last().waitFor();
  assert.equal(await line.last().locator(".name").textContent(), name);
  assert.match(await line.last().locator("time").textContent(), /\d/);
  return line.last();
}

async function notice(page, text) {
  await page.locator(".notice", { hasText: text }).last().waitFor();
}

async function shoot(page, name, size) {
  await page.setViewportSize(size);
  await page.waitForTimeout(150); // layout settles after the resize
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path });
  log("screenshot", path);
}

// -- scenarios --------------------------------------------------------------------------------

const room = `room-${Math.random().toString(36).slice(2, 8)}`;

async function twoPages(context, format) {
  const query = `format=${format}`;
  const alice = await openPage(context, query);
  const bob = await openPage(context, query);
  assert.equal(await alice.textContent("#format"), format);
  await shoot(alice, `join-${format}-phone`, PHONE);

  await joinAs(alice, "alice", room);
  await members(alice, ["alice"]);
  await joinAs(bob, "bob", room);
  await notice(alice, "bob joined");
  await members(alice, ["alice", "bob"]);
  await members(bob, ["alice", "bob"]);
  assert.equal(await bob.textContent("#room-title"), `# ${room}`);

  // typing indicator: shown to the other page, gone when the message arrives
  await alice.fill("#text", "Hel");
  await bob.locator("#typing", { hasText: "alice is typing…" }).waitFor();
  await send(alice, "Hello Bob — how is the new release going?");
  await received(bob, "alice", "Hello Bob — how is the new release going?");
  assert.equal(await bob.textContent("#typing"), "");

  await send(bob, "Shipping today. The tests are green.");
  await received(alice, "bob", "Shipping today. The tests are green.");

  // no XSS: markup arrives as text
  const markup = `<img src=x onerror="window.__xss=1"><b>bold?</b>`;
  await send(bob, markup);
  const line = await received(alice, "bob", "bold?");
  assert.equal(await line.locator(".bubble").textContent(), markup);
  assert.equal(await alice.locator("#messages img, #messages b").count(), 0);
  assert.equal(await alice.evaluate(() => window.__xss), undefined);

  // typing notices expire on their own
  await bob.fill("#text", "typing and thinking");
  await alice.locator("#typing", { hasText: "bob is typing…" }).waitFor();
  await alice.waitForFunction(() => document.getElementById("typing").textContent === "");
  await send(alice, "Great, I will tell the others ✓ (naïve café, Grüße, Ωμέγα)");
  await received(bob, "alice", "Great, I will tell the others ✓ (naïve café, Grüße, Ωμέγα)");

  await shoot(alice, `chat-${format}-desktop`, DESKTOP);
  await shoot(alice, `chat-${format}-phone`, PHONE);
  await shoot(bob, `chat-${format}-bob-phone`, PHONE);

  // leaving tells the room and updates members
  await bob.click("#leave");
  await bob.locator("#join-view").waitFor();
  await notice(alice, "bob left");
  await members(alice, ["alice"]);

  // a server error is shown (control characters are not allowed in room names)
  await bob.fill("#name", "bob");
  await bob.fill("#room", "bad\troom");
  await bob.click("#join-button");
  await bob.locator("#error", { hasText: "'room'" }).waitFor();
  assert.equal(await bob.isVisible("#chat-view"), false);
  await shoot(bob, `error-${format}-phone`, PHONE);
}

async function mixedFormats(context) {
  const alice = await openPage(context, "format=msgpack");
  const bob = await openPage(context, "format=json");
  await joinAs(alice, "alice", room);
  await joinAs(bob, "bob", room);
  await notice(alice, "bob joined");
  await members(alice, ["alice", "bob"]);
  await members(bob, ["alice", "bob"]);
  await send(alice, "sent as msgpack");
  await received(bob, "alice", "sent as msgpack");
  await send(bob, "sent as json");
  await received(alice, "bob", "sent as json");
}

async function reconnect(context) {
  const alice = await openPage(context, "format=json");
  const bob = await openPage(context, "format=json");
  await joinAs(alice, "alice", room);
  await joinAs(bob, "bob", room);
  await members(alice, ["alice", "bob"]);
  await send(alice, "before the restart");
  await received(bob, "alice", "before the restart");

  await server("stop");
  await state(alice, "reconnecting");
  await state(bob, "reconnecting");
  assert.equal(await alice.textContent("#state-text"), "reconnecting…");
  assert.match(await alice.textContent("#conn-banner"), /Reconnecting/);
  await shoot(alice, "reconnecting-phone", PHONE);

  await server("start");
  await state(alice, "connected");
  await state(bob, "connected");
  assert.equal(await alice.textContent("#state-text"), "connected");
  assert.equal(await alice.isVisible("#conn-banner"), false);
  await notice(alice, `Reconnected, back in # ${room}`);
  await notice(bob, `Reconnected, back in # ${room}`);
  await members(alice, ["alice", "bob"]);
  await members(bob, ["alice", "bob"]);
  // whoever rejoined second is announced as back, not as a new arrival
  await Promise.any([notice(alice, "bob is back"), notice(bob, "alice is back")]);
  assert.equal(await alice.locator(".notice", { hasText: /^bob joined/ }).count(), 1);
  assert.equal(await bob.locator(".notice", { hasText: /^alice joined/ }).count(), 0);

  await send(alice, "after the restart");
  await received(bob, "alice", "after the restart");
  await send(bob, "still here");
  await received(alice, "bob", "still here");
  await shoot(alice, "reconnected-desktop", DESKTOP);
}

// Tokens that expire (E2E_TOKENS: {ann, bob, annLater, exp, leeway}): Ann's site puts a fresh
// token in the fragment in time and her page carries on; Bob's page shows the expired session.
async function session(context) {
  const { ann, bob, annLater, exp, leeway } = JSON.parse(process.env.E2E_TOKENS);
  const stays = await openPage(context, `format=msgpack#token=${ann}`);
  await stays.evaluate((token) => {
    location.hash = `token=${token}`; // what the embedding site does when it has a new one
  }, annLater);
  const ends = await openPage(context, `format=json#token=${bob}`);
  await joinAs(stays, "Ann", room);
  await joinAs(ends, "Bob", room);

  await state(ends, "expired");
  await ends.locator("#conn-banner", { hasText: "Your session has expired. Sign in again" }).waitFor();
  assert.equal(await ends.textContent("#state-text"), "session expired");
  await notice(stays, "Bob left");
  await shoot(ends, "session-expired-phone", PHONE);

  await stays.waitForFunction((t) => Date.now() > t, (exp + leeway) * 1000 + 300);
  assert.equal(await stays.getAttribute("#state", "data-state"), "connected");
  await send(stays, "Still here after my first token expired.");
  await members(stays, ["Ann"]);
}

const SCENARIOS = {
  "two-pages-json": (ctx) => twoPages(ctx, "json"),
  "two-pages-msgpack": (ctx) => twoPages(ctx, "msgpack"),
  "mixed-formats": mixedFormats,
  reconnect,
  session,
};

// -- main -------------------------------------------------------------------------------------

const run = SCENARIOS[scenario];
if (!run || !baseUrl || !artifacts) {
  console.error(`usage: chat_page.mjs {${Object.keys(SCENARIOS).join("|")}} <base-url> <artifacts-dir>`);
  process.exit(2);
}
mkdirSync(artifacts, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), "socketsvc-e2e-"));
let context;
let failed = false;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: DESKTOP,
  });
  await run(context);
  assert.deepEqual(pageErrors, [], "errors in the page");
  log("ok");
} catch (err) {
  failed = true;
  console.error(err);
  if (pageErrors.length) console.error("page errors:", pageErrors);
  for (const [i, page] of (context?.pages() ?? []).entries()) {
    const path = join(artifacts, `failure-${scenario}-${i}.png`);
    await page.screenshot({ path }).catch(() => {});
    console.error("failure screenshot", path);
  }
} finally {
  await context?.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
