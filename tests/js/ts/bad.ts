// The same client with one mistake per marked line: TypeScript must report each marked line
// and no other (tests/tests/typescript.rs).
import { io, type Socket } from "socket.io-client";
import type { ClientToServerEvents, ServerToClientEvents } from "../../../examples/chat/web/chat";

const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io("http://127.0.0.1:3000/chat");

export async function chat(): Promise<void> {
  socket.emit("say", { channel: "general" }, () => {}); // misuse: `text` is missing
  socket.emit("say", { channel: "general", text: 42 }, () => {}); // misuse: `text` is a string
  socket.emit("shout", { text: "hi" }); // misuse: no listener of `shout`
  socket.emit("join", { room: "general" }, () => {}); // misuse: `join` takes `{channel}`
  socket.emit("who", { everyone: true }, () => {}); // misuse: `who` takes no payload
  socket.emit("/ops/login", { jwt: "t" }, () => {}); // misuse: `/ops/login` takes `{token}`
  const dm = await socket.emitWithAck("dm", { to: "bob", text: "hi" });
  const online: boolean = dm.online; // misuse: the ack may be an error
  const said = await socket.emitWithAck("say", { channel: "general", text: "hi" });
  if (!("error" in said)) {
    const sockets: string = said.delivered; // misuse: `delivered` is a number
    console.log(sockets, online);
  }
  socket.on("message", (message) => console.log(message.body)); // misuse: no `body`
  socket.on("presence", (presence) => { const up: string = presence.online; console.log(up); }); // misuse: `online` is a boolean
  socket.on("/ops/disconnected", (kick) => console.log(kick.reason)); // misuse: `code`, not `reason`
  socket.on("member_joined", (change) => console.log(change.member)); // misuse: `user`, not `member`
}
