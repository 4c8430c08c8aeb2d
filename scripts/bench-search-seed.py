#!/usr/bin/env python3
"""Seeds a migrated Palaver store in bulk for the search benchmark (scripts/bench-search).

    bench-search-seed.py sqlite PATH/palaver.db [MESSAGES]
    bench-search-seed.py postgres POSTGRES_URL [MESSAGES]

200 people (user0 … user199), 100 public rooms (room0 … room99) and MESSAGES messages (default
1,000,000) spread over the rooms, one every ~31 s through 2026, written straight into the
tables (no events: search reads messages only). Bodies are 6–16 words of a fixed vocabulary
with a skewed (Zipf-like) frequency, and now and then a link, an email or a dotted name. The
data is the same on every run and on both stores (a fixed random seed). SQLite's search index
is kept by the store's triggers as rows go in; PostgreSQL computes its generated column, and
its GIN index is dropped during the load and built again after it.
"""
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time

COMMON = """the a to and of in is it for on that this we with be at can will i you our are not
have do from so if just as up out now all get about new one please check team today tomorrow
meeting deploy release notes review build test fix bug issue update plan docs database migration
server client api config budget lunch design customer support ticket branch merge staging
production rollback incident alert dashboard metrics latency cache query index schema backup
kubernetes cluster node pod service network storage""".split()


def vocabulary():
    rng = random.Random(7)
    syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "pe", "dra", "qu", "ix", "zo", "bel", "mar", "tin"]
    words = list(COMMON)
    seen = set(words)
    while len(words) < 2000:
        w = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


def rows(count):
    rng = random.Random(11)
    words = vocabulary()
    # Zipf-like: weight 1/(rank+1).
    weights = [1.0 / (rank + 1) for rank in range(len(words))]
    base = 1767225600  # 2026-01-01T00:00:00Z
    step = max(1, 31_536_000 // max(count, 1))
    for i in range(count):
        body = " ".join(rng.choices(words, weights, k=rng.randint(6, 16)))
        if i % 50 == 0:
            body += f" see https://example.com/docs/{i % 100}"
        if i % 70 == 0:
            body += f" mail user{i % 200}@example.org"
        if i % 90 == 0:
            body += f" set config.server.port to {i % 9000}"
        room = i % 100
        seq = i // 100 + 1
        at = base + i * step
        created = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(at))
        yield (
            f"{i:032x}",
            f"room{room:02d}id",
            seq,
            f"user{(i * 7) % 200}id",
            f"c{i}",
            body,
            f"{seq:012d}",
            created,
        )


USERS = [(f"user{n}id", f"user{n}", f"user{n}", 0, "2026-01-01T00:00:00.000Z") for n in range(200)]
ROOMS = [(f"room{n:02d}id", f"room{n}", f"room{n}", 0, "2026-01-01T00:00:00.000Z") for n in range(100)]


def seed_sqlite(path, count):
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.executemany(
        "INSERT INTO users (id, username, username_key, password_hash, guest, created_at) VALUES (?, ?, ?, NULL, ?, ?)",
        USERS,
    )
    db.executemany(
        "INSERT INTO rooms (id, name, name_key, last_seq, created_at, kind) VALUES (?, ?, ?, ?, ?, 'public')",
        ROOMS,
    )
    batch = []
    for row in rows(count):
        batch.append(row)
        if len(batch) == 50_000:
            db.executemany(
                "INSERT INTO messages (id, room_id, seq, author_id, client_id, body, position, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                batch,
            )
            batch.clear()
    if batch:
        db.executemany(
            "INSERT INTO messages (id, room_id, seq, author_id, client_id, body, position, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            batch,
        )
    db.execute("UPDATE rooms SET last_seq = (SELECT COALESCE(MAX(seq), 0) FROM messages WHERE room_id = rooms.id)")
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def psql(url, sql):
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], check=True)


def seed_postgres(url, count):
    def esc(v):
        return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for name, data in [("users", USERS), ("rooms", ROOMS), ("messages", rows(count))]:
            path = os.path.join(tmp, f"{name}.tsv")
            with open(path, "w") as f:
                for row in data:
                    f.write("\t".join(esc(v) for v in row) + "\n")
            files[name] = path
        psql(url, "DROP INDEX IF EXISTS messages_search")
        psql(url, f"\\copy users (id, username, username_key, guest, created_at) FROM '{files['users']}'")
        psql(url, f"\\copy rooms (id, name, name_key, last_seq, created_at) FROM '{files['rooms']}'")
        psql(url, f"\\copy messages (id, room_id, seq, author_id, client_id, body, position, created_at) FROM '{files['messages']}'")
        psql(url, "UPDATE rooms SET last_seq = m.seq FROM (SELECT room_id, MAX(seq) AS seq FROM messages GROUP BY room_id) m WHERE m.room_id = rooms.id")
        psql(url, "CREATE INDEX messages_search ON messages USING GIN (search)")
        psql(url, "VACUUM ANALYZE")


if __name__ == "__main__":
    kind, target = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
    {"sqlite": seed_sqlite, "postgres": seed_postgres}[kind](target, count)
