#!/usr/bin/env python3
"""Memory of a real server under many concurrent long-polls, and after them (issue 23 item 10).

Starts the given palaver binary on a fresh SQLite data dir, signs in a guest, then runs ROUNDS
rounds of N concurrent `GET /api/rooms/{General}/events?after=<last>&wait=W` long-polls, each on
its own connection (closed after its answer), and prints the server's RSS (VmRSS from /proc)
before, at the peak of each round, and at 1, 5 and 15 s after the last round.

    scripts/longpoll-rss.py target/release/palaver            # 5,000 long-polls, one round
    scripts/longpoll-rss.py target/release/palaver --rounds 3 --polls 5000 --wait 3

Only the standard library: each long-poll is a plain HTTP/1.1 request over asyncio streams.
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


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request) as response:
        return json.load(response)


async def long_poll(port, path, token):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        "Connection: close\r\n\r\n".encode()
    )
    await writer.drain()
    answer = await reader.read()
    writer.close()
    status = answer.split(b" ", 2)[1] if answer else b"none"
    return status


async def round_of(port, path, token, polls, pid):
    peak = 0
    tasks = [asyncio.create_task(long_poll(port, path, token)) for _ in range(polls)]
    pending = set(tasks)
    while pending:
        _, pending = await asyncio.wait(pending, timeout=0.25)
        peak = max(peak, rss_kib(pid))
    statuses = {}
    for task in tasks:
        status = task.result()
        statuses[status] = statuses.get(status, 0) + 1
    return peak, statuses


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binary")
    parser.add_argument("--polls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--wait", type=int, default=3)
    parser.add_argument(
        "--gdb-trim",
        action="store_true",
        help="at the end, print glibc's malloc_stats() of the server and call malloc_trim(0) "
        "in it (with gdb): how much of the RSS is the allocator keeping freed memory",
    )
    args = parser.parse_args()

    data = tempfile.mkdtemp(prefix="palaver-longpoll-")
    port = free_port()
    env = dict(
        os.environ,
        PALAVER_LISTEN=f"127.0.0.1:{port}",
        PALAVER_DATA_DIR=data,
        # One client address opens them all: lift the per-address cap (a measurement of memory,
        # not of that defence).
        PALAVER_MAX_CONNECTIONS_PER_ADDRESS="0",
        RUST_LOG="warn",
    )
    server = subprocess.Popen([args.binary], env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/healthz")
                break
            except OSError:
                time.sleep(0.1)
        token = call(base, "POST", "/api/auth/guest", body={"username": "poller"})["token"]
        room = call(base, "GET", "/api/rooms", token)[0]
        path = f"/api/rooms/{room['id']}/events?after={room['last_seq']}&wait={args.wait}"
        time.sleep(1)
        print(f"before: {rss_kib(server.pid) / 1024:.1f} MiB", flush=True)
        for n in range(args.rounds):
            peak, statuses = asyncio.run(round_of(port, path, token, args.polls, server.pid))
            answered = {k.decode(): v for k, v in statuses.items()}
            print(
                f"round {n + 1}: {args.polls} long-polls, answers {answered}, "
                f"peak {peak / 1024:.1f} MiB, right after {rss_kib(server.pid) / 1024:.1f} MiB",
                flush=True,
            )
        started = time.monotonic()
        for at in (1, 5, 15):
            time.sleep(max(0.0, started + at - time.monotonic()))
            print(f"{at:>2} s after: {rss_kib(server.pid) / 1024:.1f} MiB", flush=True)
        if args.gdb_trim:
            subprocess.run(
                ["gdb", "-p", str(server.pid), "-batch", "-ex", "call (void) malloc_stats()",
                 "-ex", "call (int) malloc_trim(0)"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
            time.sleep(0.5)
            print(f"after malloc_trim(0): {rss_kib(server.pid) / 1024:.1f} MiB", flush=True)
    finally:
        server.terminate()
        server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
