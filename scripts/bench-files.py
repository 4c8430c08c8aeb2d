#!/usr/bin/env python3
"""Upload throughput and the server's memory while files stream in (issue #12).

Starts the given palaver binary on a fresh data dir (SQLite, files on disk) or, with
--database-url, on that PostgreSQL database (files in `blob_chunks`); with --s3, the files go to
an S3-compatible bucket instead: the script starts `s3s-fs` (the tests' S3 server; on the PATH or
in ~/.cargo/bin) on a temporary directory and a free port. It signs in a guest, and
uploads FILES files of SIZE bytes (random, so no two share a blob) with CONCURRENCY uploads in
flight. Prints the throughput and the server's RSS (VmRSS from /proc, sampled every 5 ms) before
and at its peak: streamed uploads make it grow by far less than the bytes uploaded.

    scripts/bench-files.py target/release/palaver
    scripts/bench-files.py target/release/palaver --database-url postgres://postgres@127.0.0.1/bench_files
    scripts/bench-files.py target/release/palaver --s3
    scripts/bench-files.py target/release/palaver --s3 --database-url postgres://postgres@127.0.0.1/bench_files

Only the standard library: each upload is a plain HTTP/1.1 multipart request over http.client,
its body written in 64 KiB pieces.
"""

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor


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


def s3s_fs_binary():
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = os.path.join(directory, "s3s-fs")
        if os.access(candidate, os.X_OK):
            return candidate
    home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    candidate = os.path.join(home, "bin", "s3s-fs")
    if os.access(candidate, os.X_OK):
        return candidate
    sys.exit("s3s-fs is not installed: cargo install s3s-fs --version 0.14.1 --features binary --locked")


def start_s3():
    """s3s-fs on a temp dir and a free port, with a bucket `bench`: (process, env for palaver)."""
    root = tempfile.mkdtemp(prefix="palaver-bench-s3-")
    os.mkdir(os.path.join(root, "bench"))
    port = free_port()
    key, secret = "bench-key", "bench-secret-0123456789"
    process = subprocess.Popen(
        [s3s_fs_binary(), "--host", "127.0.0.1", "--port", str(port),
         "--access-key", key, "--secret-key", secret, root],
        env=dict(os.environ, RUST_LOG="warn"),
        stdout=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    env = {
        "PALAVER_FILES_URL": "s3://bench/files",
        "PALAVER_S3_ENDPOINT": f"http://127.0.0.1:{port}",
        "PALAVER_S3_REGION": "us-east-1",
        "PALAVER_S3_ACCESS_KEY_ID": key,
        "PALAVER_S3_SECRET_ACCESS_KEY": secret,
    }
    return process, env


def call(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def upload(port, token, name, payload):
    boundary = "palaverbench" + os.urandom(8).hex()
    head = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.putrequest("POST", "/api/files")
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head) + len(payload) + len(tail)))
    conn.endheaders()
    conn.send(head)
    view = memoryview(payload)
    for at in range(0, len(payload), 65536):
        conn.send(view[at : at + 65536])
    conn.send(tail)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    if response.status != 201:
        raise RuntimeError(f"upload answered {response.status}: {body[:200]!r}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary")
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--size", type=int, default=1024 * 1024)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--s3", action="store_true", help="files in a local s3s-fs bucket")
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="palaver-bench-files-")
    port = free_port()
    env = dict(
        os.environ,
        RUST_LOG="warn",
        PALAVER_LISTEN=f"127.0.0.1:{port}",
        PALAVER_DATA_DIR=data_dir,
        PALAVER_GUESTS_PER_ADDRESS_PER_MIN="0",
        PALAVER_UPLOAD_QUOTA_BYTES=str(args.files * args.size * 2),
    )
    if args.database_url:
        env["PALAVER_DATABASE_URL"] = args.database_url
    s3 = None
    if args.s3:
        s3, s3_env = start_s3()
        env.update(s3_env)
    server = subprocess.Popen([args.binary], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/healthz")
                break
            except OSError:
                time.sleep(0.1)
        token = call(base, "POST", "/api/auth/guest", {"username": "bencher"})["token"]
        payloads = [os.urandom(args.size) for _ in range(args.files)]
        # One warm-up upload, so first-use allocations are not counted as growth.
        upload(port, token, "warm.bin", os.urandom(args.size))
        time.sleep(0.5)
        before = rss_kib(server.pid)
        peak = [before]
        sampling = [True]

        def sample():
            while sampling[0]:
                peak[0] = max(peak[0], rss_kib(server.pid))
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(lambda i: upload(port, token, f"f{i}.bin", payloads[i]), range(args.files)))
        elapsed = time.perf_counter() - started
        sampling[0] = False
        sampler.join()
        total = args.files * args.size
        store = "PostgreSQL (blob_chunks)" if args.database_url else "SQLite + disk"
        if args.s3:
            store = ("PostgreSQL" if args.database_url else "SQLite") + " + S3 bucket (s3s-fs)"
        print(f"store: {store}")
        print(f"uploaded {args.files} files of {args.size} bytes ({total / 2**20:.0f} MiB), "
              f"{args.concurrency} at a time, in {elapsed:.2f} s")
        print(f"throughput: {total / 2**20 / elapsed:.1f} MiB/s, {args.files / elapsed:.1f} files/s")
        print(f"server RSS: {before / 1024:.1f} MiB before, {peak[0] / 1024:.1f} MiB at peak, "
              f"growth {(peak[0] - before) / 1024:.1f} MiB "
              f"({(peak[0] - before) * 1024 / total * 100:.1f}% of the bytes uploaded)")
    finally:
        server.terminate()
        server.wait(timeout=30)
        if s3 is not None:
            s3.terminate()
            s3.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
