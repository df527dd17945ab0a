// Compile-time checks of the public types (npm run typecheck); never executed.
import { ChatClient, connect, NamespaceClient, SocketsvcError, tokenSession } from "../src/index.js";
import type { ChatClientEvents, ChatServerEvents, RequestEvents, Socket } from "../src/index.js";
import type { ChatMessage, JoinAck, MembersAck, MessageAck } from "../src/index.js";

export async function typed(): Promise<void> {
  const chat = ChatClient.connect("http://127.0.0.1:8000", { token: "t", format: "json", requestTimeout: 100 });
  const joined: JoinAck = await chat.join("lobby", "ada");
  const sent: MessageAck = await chat.send("lobby", "hi");
  const members: MembersAck = await chat.request("members", { room: "lobby" });
  chat.on("message", (m: ChatMessage) => m.text.length);
  chat.on("typing", ({ room, name }) => room + name);
  // @ts-expect-error: unknown server event
  chat.on("nope", () => {});
  await chat.request("join", { room: "lobby" }); // no name: a connection with a token is named by it
  // @ts-expect-error: a room is a string
  await chat.request("join", { room: 1, name: "ada" });
  // @ts-expect-error: message needs a text
  await chat.request("message", { room: "lobby" });
  // @ts-expect-error: the format is msgpack or json
  connect("http://x", { format: "xml" });

  const socket = connect("http://127.0.0.1:8000");
  socket.on("left", ({ name }) => name.toUpperCase());
  socket.emit("typing", { room: "lobby" });
  // @ts-expect-error: typing carries a room
  socket.emit("typing", { text: "x" });
  const reply = await socket.timeout(1000).emitWithAck("members", { room: "lobby" });
  if ("error" in reply) reply.error.code.toUpperCase();
  else reply.members.join();

  const renewing = ChatClient.connect("http://x", { getToken: async () => "t" });
  renewing.onState((state) => state === "expired");
  const session = tokenSession(renewing.socket);
  if (session) {
    const refreshed: boolean = await session.refresh();
    const exp: number | undefined = session.expires;
    void [refreshed, exp];
  }
  connect("http://x", { getToken: () => null });
  // @ts-expect-error: getToken returns a token (or nothing), not a number
  connect("http://x", { getToken: () => 42 });

  try {
    await chat.leave("lobby");
  } catch (err) {
    if (err instanceof SocketsvcError) err.code.toUpperCase();
  }
  void [joined, sent, members];

  const generic = NamespaceClient.connect<ChatServerEvents, ChatClientEvents>("http://x", { namespace: "/chat" });
  const kept: JoinAck = await generic.keep("join", { room: "lobby", name: "ada" });
  const requests: RequestEvents<ChatClientEvents>[] = ["join", "leave", "members", "message"];
  // @ts-expect-error: no such event
  const notRequest: RequestEvents<ChatClientEvents> = "shout";
  // @ts-expect-error: a room is a string
  await generic.request("members", { room: 1 });
  generic.emit("typing", { room: "lobby" });
  generic.on("message", (m) => m.ts.toFixed());
  const raw: Socket<ChatServerEvents, ChatClientEvents> = generic.socket;
  void [kept, requests, notRequest, raw, generic.forget("join", { room: "lobby", name: "ada" })];
}
