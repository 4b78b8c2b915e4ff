"""python-socketio recovering what it missed, with the README's snippet, against the chat demo.

Usage: python recover.py http://127.0.0.1:PORT NOTIFY_SECRET
Logs in as a fresh user, connects to /chat, disconnects, has the server notify it three times,
reconnects with `auth.recover`, and prints one JSON line: what it received and what the server
said about the recovery. Exits non-zero on a failure.
"""

import json
import sys
import threading
import time
import urllib.request

import socketio

base, secret = sys.argv[1], sys.argv[2]
user = f"py{int(time.time() * 1000) % 1_000_000}"


def post(path, body, headers=None):
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


token = post("/api/login", {"user": user})["token"]

# ---- the README's snippet (its handlers are registered on each client below) ----
recover = None  # {"offset", "channels"}: sent back on every (re)connect


def on_info(info):
    global recover
    recover = {"offset": info["offset"], "channels": info["channels"]}
    infos.append(info)


def on_note(payload, position=None):
    if recover and position:
        recover["offset"] = position
    received.append(payload)
    arrived.set()
# ---- end of the snippet ----


def on_refused(data):
    print(f"refused: {data}", file=sys.stderr)


infos, received = [], []
arrived = threading.Event()


def connect():
    """A page (re)connecting: a fresh client each time (reusing a disconnected
    python-socketio client races with its background threads), the same `recover`."""
    sio = socketio.Client(reconnection=False)
    sio.on("/ops/connection-success", on_info, namespace="/chat")
    sio.on("notification", on_note, namespace="/chat")
    sio.on("connect_error", on_refused, namespace="/chat")
    sio.connect(
        base,
        namespaces=["/chat"],
        transports=["websocket"],
        auth=lambda: {"token": token, "recover": recover},
        wait_timeout=15,
    )
    deadline = time.time() + 5
    while len(infos) < connects + 1 and time.time() < deadline:
        time.sleep(0.02)
    return sio


connects = 0
sio = connect()
connects = 1
sio.disconnect()
for n in range(3):
    post(f"/api/notify/{user}", {"n": n}, {"Authorization": f"Bearer {secret}"})
sio = connect()
deadline = time.time() + 5
while len(received) < 3 and time.time() < deadline:
    time.sleep(0.02)
time.sleep(0.3)
sio.disconnect()
print(json.dumps({"received": received, "recovery": infos[-1].get("recovery")}))
ok = received == [{"n": 0}, {"n": 1}, {"n": 2}] and infos[-1].get("recovery", {}).get("recovered")
sys.exit(0 if ok else 1)
