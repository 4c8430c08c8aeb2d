#!/usr/bin/env python3
"""Server CPU per long-poll answer against per socket delivery, in one sitting (issue #15 item 2).

Starts BIN_DIR/palaver on a fresh SQLite data dir and runs two phases on it, each with LISTENERS
listeners of one room and one sender at RATE messages a second for SECONDS (after a warm-up):

1. long-polling: each listener is a client without a socket, on its own keep-alive HTTP/1.1
   connection, looping `GET /api/rooms/{id}/events?after=<last>&wait=30&live=<token>` as the web
   client does; the sender posts over REST. Every listener must receive every message once.
2. sockets: `BIN_DIR/palaver-bench fanout` with the same listeners, rate and duration.

It reads the server's CPU seconds (utime + stime, /proc/PID/stat) over each measured window and
prints the server CPU per poll answer, per delivered event, and per socket delivery, as JSON.

    scripts/longpoll-cost.py target/release            # 100 listeners, 50 msg/s, 10 s
    scripts/longpoll-cost.py target/debug --listeners 20 --rate 10 --seconds 2   # smoke

Only the standard library; aimed at 127.0.0.1 only; every phase is bounded in time.
"""

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rest(base, method, path, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as r:
        raw = r.read()
        return json.loads(raw) if raw else None


class Http:
    """One keep-alive HTTP/1.1 connection: GET and POST with a JSON answer."""

    def __init__(self, port, token):
        self.port, self.token = port, token
        self.reader = self.writer = None

    async def request(self, method, path, body=None):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        payload = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        )
        self.writer.write(head.encode() + payload)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
        raw = await self.reader.readexactly(length) if length else b""
        return status, (json.loads(raw) if raw else None)


async def poll_phase(port, room_id, tokens, sender_token, rate, seconds, warmup, pid):
    stop = asyncio.Event()
    answers = [0]
    measuring = [False]
    received = [dict() for _ in tokens]  # body -> count, per listener
    errors = []

    async def listener(i, token):
        http = Http(port, token)
        status, page = await http.request("GET", f"/api/rooms/{room_id}/events?after=0&live=")
        after, live = page["last_seq"], page.get("live", "")
        while not stop.is_set():
            path = f"/api/rooms/{room_id}/events?after={after}&wait=30&live={live}"
            status, page = await http.request("GET", path)
            if status != 200:
                errors.append((status, page))
                return
            if measuring[0]:
                answers[0] += 1
            for event in page["events"]:
                if event["kind"] == "message.created":
                    body = event["message"]["body"]
                    received[i][body] = received[i].get(body, 0) + 1
            # As the web client does: the next poll starts after the last event applied (an
            # older server's last_seq could be read before a page's last event was committed).
            seqs = [e["seq"] for e in page["events"]]
            after, live = max([page["last_seq"], after, *seqs]), page.get("live", "")

    tasks = [asyncio.create_task(listener(i, t)) for i, t in enumerate(tokens)]
    await asyncio.sleep(1.0)  # everyone polling and online
    sender = Http(port, sender_token)
    sent = 0
    start = time.monotonic()
    total = int(rate * (warmup + seconds))
    cpu0 = t0 = None
    for n in range(total):
        due = start + n / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        if cpu0 is None and time.monotonic() - start >= warmup:
            measuring[0] = True
            cpu0, t0, answers[0], sent_at_start = cpu_seconds(pid), time.monotonic(), 0, sent
        status, _ = await sender.request(
            "POST", f"/api/rooms/{room_id}/messages", {"client_id": f"m{n}", "body": f"m{n}"}
        )
        assert status == 201, status
        sent += 1
    cpu1, t1, counted = cpu_seconds(pid), time.monotonic(), answers[0]
    measuring[0] = False
    # Let the last messages reach everyone (bounded), then stop.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(len(r) < sent for r in received):
        await asyncio.sleep(0.05)
    stop.set()
    for t in tasks:
        t.cancel()
    lost = sum(sent - len(r) for r in received)
    doubled = sum(c - 1 for r in received for c in r.values() if c > 1)
    cpu = cpu1 - cpu0
    delivered = (sent - sent_at_start) * len(tokens)
    return {
        "listeners": len(tokens),
        "sent": sent,
        "window_s": round(t1 - t0, 2),
        "server_cpu_s": round(cpu, 3),
        "server_cores": round(cpu / (t1 - t0), 3),
        "answers": counted,
        "events_delivered": delivered,
        "cpu_ms_per_answer": round(1000 * cpu / max(1, counted), 4),
        "cpu_ms_per_event_delivered": round(1000 * cpu / max(1, delivered), 4),
        "lost": lost,
        "doubled": doubled,
        "errors": errors[:3],
    }


def socket_phase(bin_dir, port, pid, listeners, rate, seconds, warmup):
    cmd = [
        os.path.join(bin_dir, "palaver-bench"), "fanout", "--url", f"http://127.0.0.1:{port}",
        "--server-pid", str(pid), "--subscribers", str(listeners), "--rate", str(rate),
        "--duration", str(seconds + warmup), "--warmup", str(warmup), "--drain", "5",
        "--source-ips", "1", "--deadline-secs", str(seconds + warmup + 120),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + warmup + 180)
    if out.returncode != 0:
        sys.exit(f"palaver-bench failed: {out.stderr[-2000:]}")
    # The result is one JSON document (pretty-printed or not) at the end of stdout.
    text = out.stdout.strip()
    return json.loads(text[text.index("{"):])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bin_dir")
    ap.add_argument("--listeners", type=int, default=100)
    ap.add_argument("--rate", type=float, default=50)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--skip-sockets", action="store_true")
    args = ap.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        # One client address signs everyone in and one user sends at RATE: lift those limits
        # (a measurement of cost, not of the defences).
        env = dict(os.environ, PALAVER_LISTEN=f"127.0.0.1:{port}", PALAVER_DATA_DIR=data,
                   PALAVER_GUESTS_PER_MIN="0", PALAVER_GUESTS_PER_ADDRESS_PER_MIN="0",
                   PALAVER_LOGIN_PER_ADDRESS_PER_MIN="0", PALAVER_RATE_PER_SEC="0",
                   PALAVER_JOIN_RATE_PER_MIN="0", PALAVER_ROOM_RATE_PER_MIN="0",
                   PALAVER_MAX_CONNECTIONS_PER_ADDRESS="0", RUST_LOG="warn")
        server = subprocess.Popen([os.path.join(args.bin_dir, "palaver")], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=1)
                    break
                except Exception:
                    time.sleep(0.05)
            else:
                sys.exit("the server did not start")
            tokens = [rest(base, "POST", "/api/auth/guest", body={"username": f"poller{i}"})["token"]
                      for i in range(args.listeners)]
            sender = rest(base, "POST", "/api/auth/guest", body={"username": "sender"})["token"]
            room = rest(base, "POST", "/api/rooms", sender, {"name": "Polled"})
            for t in tokens:
                rest(base, "POST", f"/api/rooms/{room['id']}/join", t, {})
            polls = asyncio.run(poll_phase(port, room["id"], tokens, sender, args.rate,
                                           args.seconds, args.warmup, server.pid))
            result = {"long_polling": polls}
            if not args.skip_sockets:
                time.sleep(1)
                bench = socket_phase(args.bin_dir, port, server.pid, args.listeners, args.rate,
                                     args.seconds, args.warmup)
                cpu = bench["server"]["cpu_secs"]
                received = bench["deliveries"]["received"]
                result["sockets"] = {
                    "listeners": args.listeners,
                    "sent": bench["messages"]["sent"],
                    "deliveries": received,
                    "lost": bench["deliveries"]["lost"],
                    "server_cpu_s": cpu,
                    "cpu_ms_per_delivery": round(1000 * cpu / max(1, received), 4),
                }
                result["poll_answer_vs_socket_delivery"] = round(
                    polls["cpu_ms_per_answer"] / max(1e-9, result["sockets"]["cpu_ms_per_delivery"]), 2)
                result["poll_event_vs_socket_delivery"] = round(
                    polls["cpu_ms_per_event_delivered"] / max(1e-9, result["sockets"]["cpu_ms_per_delivery"]), 2)
            print(json.dumps(result, indent=1))
            if polls["lost"] or polls["doubled"] or polls["errors"]:
                sys.exit("long-polling lost, doubled or failed")
            if result.get("sockets", {}).get("lost"):
                sys.exit("the sockets lost messages")
        finally:
            server.terminate()
            server.wait(timeout=15)


if __name__ == "__main__":
    main()
