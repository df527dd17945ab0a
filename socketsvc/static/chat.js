// The chat page: plain DOM code on top of the stock socket.io-client bundle.
import { io, msgpackParser } from "/static/vendor/socketio.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const options = { transports: ["polling", "websocket"], reconnectionDelayMax: 5000 };
if (params.get("format") === "msgpack") options.parser = msgpackParser;
const socket = io("/chat", options);
let current = null; // { room, name }
let typingTimer = null;

function setState(state) {
  $("state").textContent = state;
  $("state").className = `state ${state}`;
}
function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}
function time(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
function addLine({ name, text, ts, system = false, mine = false }) {
  const li = document.createElement("li");
  if (system) li.className = "system";
  if (mine) li.className = "mine";
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = time(ts ?? Date.now());
  li.append(meta);
  if (!system) {
    const who = document.createElement("span");
    who.className = "name";
    who.textContent = name;
    li.append(who);
  }
  li.append(document.createTextNode(text));
  $("messages").append(li);
  $("messages").scrollTop = $("messages").scrollHeight;
}
function setMembers(names) {
  $("members").replaceChildren(...names.map((n) => Object.assign(document.createElement("li"), { textContent: n })));
}
async function request(event, payload) {
  const reply = await socket.timeout(5000).emitWithAck(event, payload);
  if (reply && reply.error) throw new Error(`${reply.error.code}: ${reply.error.message}`);
  return reply;
}
async function join(room, name) {
  const reply = await request("join", { room, name });
  current = { room, name };
  setMembers(reply.members);
  $("chat").hidden = false;
  showError("");
}

socket.on("connect", async () => {
  setState("connected");
  if (current) {
    try { await join(current.room, current.name); } catch (err) { showError(err.message); }
  }
});
socket.on("disconnect", () => setState(socket.active ? "reconnecting" : "offline"));
socket.io.on("reconnect_attempt", () => setState("reconnecting"));
socket.on("connect_error", (err) => { setState(socket.active ? "reconnecting" : "offline"); showError(err.message); });
socket.on("message", (m) => m.room === current?.room && addLine(m));
socket.on("joined", (m) => {
  if (m.room !== current?.room) return;
  addLine({ text: `${m.name} joined`, system: true });
  request("members", { room: m.room }).then((r) => setMembers(r.members), () => {});
});
socket.on("left", (m) => {
  if (m.room !== current?.room) return;
  addLine({ text: `${m.name} left`, system: true });
  request("members", { room: m.room }).then((r) => setMembers(r.members), () => {});
});
socket.on("typing", (m) => {
  if (m.room !== current?.room) return;
  $("typing").textContent = `${m.name} is typing…`;
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => ($("typing").textContent = ""), 2000);
});

$("join").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (current) await request("leave", { room: current.room }).catch(() => {});
  $("messages").replaceChildren();
  try { await join($("room").value.trim(), $("name").value.trim()); } catch (err) { showError(err.message); }
});
$("send").addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = $("text").value;
  if (!current || !text) return;
  try {
    const { ts } = await request("message", { room: current.room, text });
    addLine({ name: current.name, text, ts, mine: true });
    $("text").value = "";
  } catch (err) { showError(err.message); }
});
let lastTyping = 0;
$("text").addEventListener("input", () => {
  if (!current || Date.now() - lastTyping < 1000) return;
  lastTyping = Date.now();
  socket.volatile.emit("typing", { room: current.room });
});
$("leave").addEventListener("click", async () => {
  if (!current) return;
  await request("leave", { room: current.room }).catch(() => {});
  current = null;
  $("chat").hidden = true;
});
