// The chat page: plain DOM code on top of the @socketsvc/client bundle.
// Every piece of user or server text goes into the page as a text node (textContent), never as HTML.
import { ChatClient } from "/static/vendor/socketsvc.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const format = params.get("format") === "json" ? "json" : "msgpack";
const TYPING_SEND_EVERY = 1500; // ms between our own typing notices
const TYPING_SHOWN_FOR = 3000; // ms a "x is typing…" stays without a new notice
const HISTORY = 50; // earlier messages shown when joining a room
const STATE_TEXT = {
  connecting: "connecting…",
  connected: "connected",
  reconnecting: "reconnecting…",
  offline: "offline",
  expired: "session expired",
};

// A site that signs its users in passes the token in the URL fragment (#token=…), which browsers
// never send to servers or write to their logs. Putting a fresh one there before it expires
// (location.hash, or an iframe's src) keeps the session going without reconnecting; the client
// reads it again whenever the server says the token is about to expire, and before reconnecting.
function tokenFromFragment() {
  return new URLSearchParams(location.hash.slice(1)).get("token") || null;
}

const client = ChatClient.connect(undefined, { format, requestTimeout: 8000, getToken: tokenFromFragment });
let current = null; // { room, name } while in a room
const typers = new Map(); // name -> timer
let lastTypingSent = 0;
let errorTimer = null;
// Who was in the room when the connection dropped: their "joined" after everyone rejoins is noise.
let returning = new Set();
let returningTimer = null;

// -- helpers ----------------------------------------------------------------------------------

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function timeEl(ts) {
  const when = new Date(ts);
  const node = el("time", "time", when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
  node.dateTime = when.toISOString();
  node.title = when.toLocaleString();
  return node;
}

function showError(message) {
  clearTimeout(errorTimer);
  $("error-text").textContent = message;
  $("error").hidden = !message;
  if (message) errorTimer = setTimeout(() => showError(""), 8000);
}

function describe(err) {
  if (err?.code === "timeout") return "The server did not answer in time. Please try again.";
  if (err?.code === "not_in_room") return "You are not in this room any more. Join it again.";
  if (err?.code === "invalid_payload") return `Not accepted: ${err.message}`;
  return err?.message || String(err);
}

const BANNER_TEXT = {
  reconnecting: "Connection lost. Reconnecting… Messages you send now go out once it is back.",
  offline: "You are offline. Reload the page to connect again.",
  expired: "Your session has expired. Sign in again to keep chatting.",
};

function setState(state) {
  if (state === "reconnecting" && current && !returning.size) {
    returning = new Set(memberNames());
    clearTimeout(returningTimer);
  }
  if (state === "connected" && returning.size) {
    returningTimer = setTimeout(() => returning.clear(), 10000);
  }
  $("state").dataset.state = state;
  $("state-text").textContent = STATE_TEXT[state] ?? state;
  document.body.dataset.connection = state;
  const banner = BANNER_TEXT[state];
  $("conn-banner").textContent = banner ?? "";
  $("conn-banner").hidden = !banner;
  $("conn-banner").dataset.state = state;
}

// -- message list -----------------------------------------------------------------------------

function nearBottom() {
  const list = $("messages");
  return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
}

function append(node, force = false) {
  const stick = force || nearBottom();
  $("messages").append(node);
  if (stick) node.scrollIntoView({ block: "end" });
}

function addMessage({ id, name, text, ts, mine = false }) {
  const li = el("li", mine ? "msg mine" : "msg");
  if (id) li.dataset.id = id;
  const meta = el("div", "meta");
  meta.append(el("span", "name", mine ? `${name} (you)` : name), timeEl(ts));
  li.append(meta, el("p", "bubble", text));
  append(li, mine);
  return li;
}

function addNotice(text, kind = "") {
  const li = el("li", `notice ${kind}`.trim());
  li.append(el("span", "", text), timeEl(Date.now()));
  append(li);
}

// -- members and typing -----------------------------------------------------------------------

function memberNames() {
  return [...$("members").children].map((li) => li.firstChild.textContent);
}

function setMembers(names) {
  const items = [...names].sort((a, b) => a.localeCompare(b)).map((name) => {
    const li = el("li", name === current?.name ? "me" : "", name);
    if (name === current?.name) li.append(el("span", "you", " (you)"));
    return li;
  });
  $("members").replaceChildren(...items);
  $("member-count").textContent = String(names.length);
}

async function refreshMembers() {
  if (!current) return;
  try {
    setMembers((await client.members(current.room)).members);
  } catch {
    // best effort: the next joined/left/rejoin refreshes again
  }
}

function renderTyping() {
  const names = [...typers.keys()];
  let text = "";
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = "Several people are typing…";
  $("typing").textContent = text;
}

function stopTyping(name) {
  clearTimeout(typers.get(name));
  typers.delete(name);
  renderTyping();
}

function clearTyping() {
  for (const timer of typers.values()) clearTimeout(timer);
  typers.clear();
  renderTyping();
}

// -- views ------------------------------------------------------------------------------------

function showChat(room) {
  $("join-view").hidden = true;
  $("chat-view").hidden = false;
  $("room-title").hidden = false;
  $("room-title").textContent = `# ${room}`;
  $("text").placeholder = `Message # ${room}`;
  document.title = `# ${room} · socketsvc chat`;
  $("text").focus();
}

function showJoin() {
  $("chat-view").hidden = true;
  $("join-view").hidden = false;
  $("room-title").hidden = true;
  document.title = "socketsvc chat";
  clearTyping();
}

// -- server events ----------------------------------------------------------------------------

client.onState((state, error) => {
  setState(state);
  if (state === "offline" && error) showError(`Cannot connect: ${error.message}`);
});
client.onRejoin(({ room, members, error }) => {
  if (room !== current?.room) return;
  if (error) {
    showError(`Could not rejoin # ${room}: ${describe(error)}`);
    return;
  }
  addNotice(`Reconnected, back in # ${room}`, "info");
  setMembers(members);
});
client.on("message", (m) => {
  if (m.room !== current?.room) return;
  stopTyping(m.name);
  addMessage(m);
});
client.on("joined", (m) => {
  if (m.room !== current?.room) return;
  if (returning.delete(m.name)) addNotice(`${m.name} is back`);
  else addNotice(`${m.name} joined`);
  refreshMembers();
});
client.on("left", (m) => {
  if (m.room !== current?.room) return;
  stopTyping(m.name);
  addNotice(`${m.name} left`);
  refreshMembers();
});
client.on("typing", (m) => {
  if (m.room !== current?.room) return;
  clearTimeout(typers.get(m.name));
  typers.set(m.name, setTimeout(() => stopTyping(m.name), TYPING_SHOWN_FOR));
  renderTyping();
});

// -- user actions -----------------------------------------------------------------------------

$("join").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("name").value.trim();
  const room = $("room").value.trim();
  if (!name || !room) return;
  const button = $("join-button");
  button.disabled = true;
  button.textContent = "Joining…";
  try {
    const ack = await client.join(room, name, { history: HISTORY });
    current = { room, name };
    try {
      localStorage.setItem("socketsvc.chat", JSON.stringify(current));
    } catch {
      // storage may be unavailable (private mode); remembering the form is only a convenience
    }
    $("messages").replaceChildren();
    showChat(room);
    for (const m of ack.history ?? []) addMessage({ ...m, mine: m.name === name });
    addNotice(`You joined # ${room} as ${name}`, "info");
    setMembers(ack.members);
    showError("");
  } catch (err) {
    showError(describe(err));
  } finally {
    button.disabled = false;
    button.textContent = "Join room";
  }
});

$("send").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("text");
  const text = input.value;
  if (!current || !text.trim()) return;
  input.value = "";
  lastTypingSent = 0; // the next keystroke starts a new "is typing" notice
  const { room, name } = current;
  const line = addMessage({ name, text, ts: Date.now(), mine: true });
  line.classList.add("pending");
  try {
    const ack = await client.send(room, text);
    line.dataset.id = ack.id;
    line.querySelector("time").replaceWith(timeEl(ack.ts));
    line.classList.remove("pending");
  } catch (err) {
    line.classList.replace("pending", "failed");
    line.append(el("p", "failed-note", `Not delivered: ${describe(err)}`));
    showError(describe(err));
  }
});

$("text").addEventListener("input", () => {
  if (!current || !$("text").value || Date.now() - lastTypingSent < TYPING_SEND_EVERY) return;
  if (client.typing(current.room)) lastTypingSent = Date.now();
});

$("leave").addEventListener("click", async () => {
  if (!current) return;
  const { room } = current;
  current = null;
  returning.clear();
  showJoin();
  try {
    await client.leave(room);
  } catch (err) {
    if (err.code !== "not_in_room") showError(describe(err));
  }
});

$("error-close").addEventListener("click", () => showError(""));

// -- start ------------------------------------------------------------------------------------

setState(client.state);
$("format").textContent = format;
const other = format === "msgpack" ? "json" : "msgpack";
const switchParams = new URLSearchParams(location.search);
switchParams.set("format", other);
$("format-switch").href = `?${switchParams}`;
$("format-switch").textContent = `use ${other}`;
try {
  const saved = JSON.parse(localStorage.getItem("socketsvc.chat") ?? "null");
  if (saved?.name) $("name").value = saved.name;
  if (saved?.room) $("room").value = saved.room;
} catch {
  // ignore a corrupt entry
}
if (params.get("room")) $("room").value = params.get("room");
