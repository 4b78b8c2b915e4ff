// A chat client typed by the demo's generated typings: TypeScript must accept all of it
// (tests/tests/typescript.rs runs `tsc --noEmit` on it).
import { io, type Socket } from "socket.io-client";
import type {
  ClientToServerEvents,
  ServerToClientEvents,
  TetherError,
} from "../../../examples/chat/web/chat";

const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(
  "http://127.0.0.1:3000/chat",
  { auth: { token: "a token from POST /api/login" }, autoConnect: false },
);

function failed(res: object): res is TetherError {
  return "error" in res;
}

let offset: string | undefined;
socket.on("/ops/connection-success", (info) => {
  const channels: string[] = info.channels;
  const user: string | null = info.user_id;
  offset = info.offset ?? offset;
  if (info.recovery && !info.recovery.recovered) {
    console.log(info.recovery.reason, channels, user);
  }
});
socket.on("message", (message, position) => {
  const line: string = `${message.from} in ${message.channel}: ${message.text}`;
  offset = position ?? offset;
  console.log(line);
});
socket.on("dm", (dm) => console.log(dm.from, dm.text));
socket.on("presence", (presence) => {
  const online: boolean = presence.online;
  console.log(presence.user, online);
});
socket.on("member_joined", (change) => console.log(change.user, "joined", change.channel));
socket.on("member_left", (change) => console.log(change.user, "left", change.channel));
socket.on("notification", (body) => console.log(JSON.stringify(body)));
socket.on("/ops/token-expired", (notice) => {
  const seconds: number = notice.grace_seconds;
  console.log(notice.code, seconds);
});
socket.on("/ops/disconnected", (kick) => {
  if (kick.reconnect) {
    socket.connect();
  }
  console.log(kick.code, kick.message);
});

export async function chat(): Promise<void> {
  const joined = await socket.emitWithAck("join", { channel: "general" });
  if (failed(joined)) {
    console.log(joined.error.code, joined.error.message);
    return;
  }
  const members: string[] = joined.members;
  const id: string = joined.client_id;
  console.log(members, id);

  const said = await socket.emitWithAck("say", { channel: "general", text: "hi" });
  if ("error" in said) {
    const retry: number | undefined = said.error.retry_after_ms;
    console.log(retry);
  } else {
    const sockets: number = said.delivered;
    console.log(sockets);
  }
  socket.emit("dm", { to: "bob", text: "hello" }, (res) => {
    if (!failed(res)) {
      const online: boolean = res.online;
      console.log(online);
    }
  });
  const who = await socket.emitWithAck("who");
  if (!failed(who)) {
    const users: string[] = who;
    console.log(users);
  }
  await socket.emitWithAck("leave", { channel: "general" });
  await socket.emitWithAck("/ops/join", { channel: "news" });
  await socket.emitWithAck("/ops/login", { token: "a fresh token" });
  await socket.emitWithAck("/ops/logout");
}
