// The Socket.IO Admin UI served by a socketsvc node, in headless Chromium (Debian's
// /usr/bin/chromium via playwright-core): log in, see two connected clients and their rooms.
//
//   node tests/e2e/admin_ui.mjs <base-url> <password> <artifacts-dir>
//
// Run by tests/e2e/test_admin_ui.py, which owns the server. The two clients are stock
// socket.io-client instances in /chat (one JSON, one msgpack); the UI logs in with the user
// "admin". Exit status 0 means every check passed; screenshots land in <artifacts-dir>.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(new URL("../../clients/js/package.json", import.meta.url));
const { chromium } = require("playwright-core");
const { io } = require("socket.io-client");
const msgpackParser = require("socket.io-msgpack-parser");

const [baseUrl, password, artifacts] = process.argv.slice(2);
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const WAIT = Number(process.env.E2E_WAIT_MS || 10000);
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"];
const log = (...parts) => console.log("[admin-ui]", ...parts);

function client(parser) {
  const socket = io(`${baseUrl}/chat`, { transports: ["websocket"], forceNew: true, reconnection: false, parser });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

mkdirSync(artifacts, { recursive: true });
const alice = await client(undefined);
const bob = await client(msgpackParser);
await alice.timeout(5000).emitWithAck("join", { room: "lobby", name: "alice" });
await bob.timeout(5000).emitWithAck("join", { room: "lobby", name: "bob" });
await bob.timeout(5000).emitWithAck("join", { room: "ops", name: "bob" });
log("clients", alice.id, bob.id);

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
page.setDefaultTimeout(WAIT);
const pageErrors = [];
page.on("pageerror", (err) => pageErrors.push(err.message));
let failed = false;
try {
  // the UI also links web fonts and icons from CDNs, unreachable here: do not wait for them
  await page.goto(`${baseUrl}/admin/`, { waitUntil: "domcontentloaded" });

  // a wrong password is refused, and the UI says so
  await page.getByLabel("Server URL").fill(baseUrl);
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Connect" }).click();
  await page.getByText("invalid credentials").waitFor();

  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Connect" }).click();
  await page.getByLabel("Server URL").waitFor({ state: "hidden" });
  log("logged in");

  await page.goto(`${baseUrl}/admin/#/sockets/`, { waitUntil: "domcontentloaded" });
  for (const socket of [alice, bob]) await page.getByText(socket.id, { exact: true }).waitFor();
  await page.getByText("WebSocket").first().waitFor();
  await page.screenshot({ path: join(artifacts, "admin-ui-sockets.png") });
  log("sockets listed");

  await page.goto(`${baseUrl}/admin/#/rooms/`, { waitUntil: "domcontentloaded" });
  await page.getByText("lobby", { exact: true }).waitFor();
  await page.getByText("ops", { exact: true }).waitFor();
  await page.screenshot({ path: join(artifacts, "admin-ui-rooms.png") });
  log("rooms listed");

  await page.goto(`${baseUrl}/admin/#/n/%2Fchat/sockets/${bob.id}`, { waitUntil: "domcontentloaded" });
  for (const room of ["lobby", "ops"]) await page.getByText(room, { exact: true }).first().waitFor();
  await page.screenshot({ path: join(artifacts, "admin-ui-socket.png"), fullPage: true });
  log("socket details with its rooms");
  assert.deepEqual(pageErrors, [], "errors in the page");
  log("ok");
} catch (err) {
  failed = true;
  console.error(err);
  if (pageErrors.length) console.error("page errors:", pageErrors);
  await page.screenshot({ path: join(artifacts, "failure-admin-ui.png"), fullPage: true }).catch(() => {});
} finally {
  alice.close();
  bob.close();
  await browser.close().catch(() => {});
}
process.exit(failed ? 1 : 0);
