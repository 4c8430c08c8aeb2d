#!/usr/bin/env python3
"""Times GET /api/me/unread for a person in 100 rooms, on SQLite holding 1M messages.

    python3 scripts/bench-unread.py [--bin target/release/palaver] [--rooms 100]
        [--messages 1000000] [--requests 1000]

1. Starts `palaver` on a fresh data dir (the migrations run), registers the reader, stops it.
2. Seeds the SQLite file directly (fast: one transaction): 20 authors, `--rooms` public rooms
   the reader is a member of, `--messages` messages spread evenly over them (seq 1..N per room),
   1 in 100 mentioning the reader. The reader has read half the rooms up to 50 events before
   their end and never opened the other half (the worst case: each count walks the room's last
   1000 events).
3. Starts `palaver` again, warms up with 50 requests, then times `--requests` GETs one after
   another over one keep-alive connection, and prints p50, p90, p99 and max in ms (client time:
   the request, the server's work, the answer read and parsed).
"""

import argparse
import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary, data_dir, port, unindexed=False):
    env = dict(os.environ)
    if unindexed:
        # The search index (#11) has a benchmark of its own: this store is opened without its
        # triggers, so the seeded 1M messages are not indexed first (minutes, and beside the point).
        env["PALAVER_BENCH_UNINDEXED"] = "1"
    env.update(
        PALAVER_LISTEN=f"127.0.0.1:{port}",
        PALAVER_DATA_DIR=data_dir,
        RUST_LOG="warn",
        PALAVER_LOGIN_PER_ADDRESS_PER_MIN="100000",
    )
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit("palaver did not start")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)


def call(conn, method, path, token=None, body=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    return response.status, (json.loads(data) if data else None)


def seed(db_path, reader_id, rooms, messages):
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    for trigger in ("message_search_insert", "message_search_update", "message_search_delete"):
        db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    now = "2026-12-05T00:00:00.000Z"
    authors = [uuid.uuid4().hex for _ in range(20)]
    db.executemany(
        "INSERT INTO users (id, username, username_key, guest, created_at) VALUES (?, ?, ?, 1, ?)",
        [(a, f"author{i}", f"author{i}", now) for i, a in enumerate(authors)],
    )
    per_room = messages // rooms
    room_ids = [uuid.uuid4().hex for _ in range(rooms)]
    db.executemany(
        "INSERT INTO rooms (id, name, name_key, last_seq, created_at) VALUES (?, ?, ?, ?, ?)",
        [(r, f"bench {i}", f"bench {i}", per_room, now) for i, r in enumerate(room_ids)],
    )
    db.executemany(
        "INSERT INTO members (room_id, user_id, role, joined_at) VALUES (?, ?, 'member', ?)",
        [(r, reader_id, now) for r in room_ids],
    )

    def rows():
        for r in room_ids:
            for seq in range(1, per_room + 1):
                mention = seq % 100 == 0
                yield (
                    uuid.uuid4().hex, r, seq, authors[seq % len(authors)], f"c{r}-{seq}",
                    f"message {seq}" + (" @reader" if mention else ""),
                    f"p{seq:09d}", now, reader_id if mention else "",
                )

    db.executemany(
        "INSERT INTO messages (id, room_id, seq, author_id, client_id, body, position, "
        "created_at, mentions) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows(),
    )
    db.execute(
        "INSERT INTO mentions (user_id, room_id, seq, message_id) "
        "SELECT mentions, room_id, seq, id FROM messages WHERE mentions <> ''"
    )
    db.executemany(
        "INSERT INTO read_state (user_id, room_id, last_read_seq) VALUES (?, ?, ?)",
        [(reader_id, r, per_room - 50) for r in room_ids[: rooms // 2]],
    )
    db.commit()
    db.execute("ANALYZE")
    db.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default="target/release/palaver")
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="palaver-unread-bench-")
    port = free_port()

    proc = start(args.bin, data_dir, port)
    conn = http.client.HTTPConnection("127.0.0.1", port)
    status, auth = call(conn, "POST", "/api/auth/register",
                        body={"username": "reader", "password": "correct horse battery"})
    assert status == 201, auth
    token, reader_id = auth["token"], auth["user"]["id"]
    conn.close()
    stop(proc)

    started = time.time()
    seed(os.path.join(data_dir, "palaver.db"), reader_id, args.rooms, args.messages)
    print(f"seeded {args.messages} messages in {args.rooms} rooms in {time.time() - started:.1f} s")

    proc = start(args.bin, data_dir, port, unindexed=True)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        for _ in range(50):
            status, entries = call(conn, "GET", "/api/me/unread", token)
            assert status == 200, entries
        assert len(entries) == args.rooms, len(entries)
        unread = sorted(e["unread"] for e in entries)
        mentions = sum(e["mentions"] for e in entries)
        print(f"unread per room: min {unread[0]}, max {unread[-1]}; mentions in all: {mentions}")
        times = []
        for _ in range(args.requests):
            t0 = time.perf_counter()
            status, _ = call(conn, "GET", "/api/me/unread", token)
            times.append((time.perf_counter() - t0) * 1000)
            assert status == 200
        times.sort()
        pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]
        print(
            f"GET /api/me/unread x{args.requests}: p50 {pick(0.5):.2f} ms, p90 {pick(0.9):.2f} ms, "
            f"p99 {pick(0.99):.2f} ms, max {times[-1]:.2f} ms"
        )
    finally:
        stop(proc)


if __name__ == "__main__":
    main()
