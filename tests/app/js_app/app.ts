// An app's TypeScript against the installed @socketsvc/client and the contract
// `socketsvc contract --format typescript` wrote for the auction (contract.ts beside it);
// compiled with --strict by tests/app/test_js_package.py, never run.
import {
  NamespaceClient,
  SocketsvcError,
  type ConnectionState,
  type ManagerOptions,
  type NamespaceClientOptions,
  type Rejoined,
  type Reply,
  type RequestEvents,
  type Socket,
  type SocketOptions,
} from "@socketsvc/client";
import type { AuctionClientToServerEvents, AuctionServerToClientEvents, Leading } from "./contract.js";

type Auction = NamespaceClient<AuctionServerToClientEvents, AuctionClientToServerEvents>;

export async function bid(url: string): Promise<string> {
  const options: NamespaceClientOptions & Partial<ManagerOptions & SocketOptions> = { requestTimeout: 2000 };
  const auction: Auction = NamespaceClient.connect(url, { ...options, namespace: "/auction", format: "msgpack" });
  const socket: Socket<AuctionServerToClientEvents, AuctionClientToServerEvents> = auction.socket;
  const requests: RequestEvents<AuctionClientToServerEvents>[] = ["bid", "watch"];
  auction.on("leading", (lead: Leading) => lead.amount.toUpperCase());
  auction.onState((state: ConnectionState) => state === "connected");
  auction.onRejoin((result: Rejoined) => result.error?.code);
  const best: Leading | undefined = await auction.keep("watch", "A-1");
  const mine: Reply<AuctionClientToServerEvents["bid"]> = await auction.request("bid", { lot: "A-1", amount: "1.5" });
  try {
    await auction.requestWithin(500, "bid", { lot: "A-1", amount: 2 });
  } catch (error) {
    if (error instanceof SocketsvcError) return error.code; // "outbid", "invalid_payload", "timeout"…
  }
  // @ts-expect-error: an amount is a number or a numeric string
  await auction.request("bid", { lot: "A-1", amount: true });
  // @ts-expect-error: a bid names its lot
  await auction.request("bid", { amount: 3 });
  // @ts-expect-error: no such event in the contract
  await auction.request("buy", "A-1");
  // @ts-expect-error: the server sends no such event
  auction.on("sold", () => undefined);
  // @ts-expect-error: a bid's reply is a Leading, not a number
  const wrong: number = await auction.request("bid", { lot: "A-1", amount: 4 });
  auction.forget("watch", "A-1");
  auction.close();
  return [best?.amount, mine.bidder, socket.id, requests.length, wrong].join();
}
