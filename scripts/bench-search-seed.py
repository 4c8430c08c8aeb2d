#!/usr/bin/env python3
"""Seeds a migrated Palaver store in bulk for the search and history benchmarks
(scripts/bench-search, scripts/bench-history).

    bench-search-seed.py sqlite PATH/palaver.db [MESSAGES] [--big N] [--events] [--samples FILE]
    bench-search-seed.py postgres POSTGRES_URL [MESSAGES] [--big N] [--events] [--samples FILE]

200 people (user0 … user199), 100 public rooms (room0 … room99) and MESSAGES messages (default
1,000,000) spread over the rooms, one every ~31 s through 2026 (or closer together when there
are more), written straight into the tables. Bodies are 6–16 words of a fixed vocabulary
with a skewed (Zipf-like) frequency, and now and then a link, an email or a dotted name. The
data is the same on every run and on both stores (a fixed random seed). SQLite's search index
is kept by the store's triggers as rows go in; PostgreSQL computes its generated column, and
its GIN index is dropped during the load and built again after it.

The search benchmark's layout (the default): messages go round robin over the rooms, and no
events are written (search reads messages only). The history benchmark's:
- `--big N`: room0 gets N of the MESSAGES, interleaved in time with the others, which share
  the rest round robin;
- `--events`: each message also gets its `message.created` event in the room's log, as a send
  writes it, so a resume replays from the log and the log's size is a real one;
- `--samples FILE`: writes, for room0 and room99, 200 points at random depths, one a line:
  `room_id seq position message_id` (what `palaver-bench history` asks around and before).
Positions are the store's own keys (`src/store/position.rs`: consecutive integer keys from
the first one), so messages sent after seeding go after the seeded ones.
"""
import itertools
import json
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


ROOMS_N = 100
# The first key of a room (src/store/position.rs: FIRST = 18 * 36^7, eight base-36 digits).
FIRST_KEY = 18 * 36**7
DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def position(seq):
    """The key of a room's seq-th appended message, as the store makes it (`encode_int`)."""
    value, out = FIRST_KEY + seq - 1, []
    while True:
        out.append(DIGITS[value % 36])
        value //= 36
        if value == 0:
            break
    out.append(chr(ord("a") + len(out) - 1))
    return "".join(reversed(out))


def room_of(count, big):
    """The room index of each message: round robin, or room 0 taking `big` of them spread
    evenly through the others."""
    if not big:
        for i in range(count):
            yield i % ROOMS_N
        return
    others = 0
    for i in range(count):
        if (i + 1) * big // count > i * big // count:
            yield 0
        else:
            yield 1 + others % (ROOMS_N - 1)
            others += 1


def rows(count, big=0):
    rng = random.Random(11)
    words = vocabulary()
    # Zipf-like: weight 1/(rank+1).
    weights = [1.0 / (rank + 1) for rank in range(len(words))]
    # The running sums once, rather than in every call of `choices` (the same draws).
    cum_weights = list(itertools.accumulate(weights))
    base = 1767225600  # 2026-01-01T00:00:00Z
    step = 31_536_000 / max(count, 1)
    seqs = [0] * ROOMS_N
    for i, room in enumerate(room_of(count, big)):
        body = " ".join(rng.choices(words, cum_weights=cum_weights, k=rng.randint(6, 16)))
        if i % 50 == 0:
            body += f" see https://example.com/docs/{i % 100}"
        if i % 70 == 0:
            body += f" mail user{i % 200}@example.org"
        if i % 90 == 0:
            body += f" set config.server.port to {i % 9000}"
        seqs[room] += 1
        seq = seqs[room]
        at = base + i * step
        created = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(at))) + f".{int(at * 1000) % 1000:03d}Z"
        yield (
            f"{i:032x}",
            f"room{room:02d}id",
            seq,
            user_id((i * 7) % 200),
            f"c{i}",
            body,
            position(seq) if big else f"{seq:012d}",
            created,
        )


def event(row):
    """The `message.created` event of a message row, as the store logs it: (room_id, seq,
    message_id, payload)."""
    mid, room, seq, author, client, body, pos, created = row
    name = author[:-2]
    payload = (
        f'{{"room_id":"{room}","seq":{seq},"at":"{created}","kind":"message.created",'
        f'"message":{{"id":"{mid}","room_id":"{room}","seq":{seq},'
        f'"author":{{"id":"{author}","username":"{name}","guest":false}},'
        f'"body":{json.dumps(body)},"client_id":"{client}","created_at":"{created}",'
        f'"edited_at":null,"position":"{pos}"}}}}'
    )
    return (room, seq, mid, payload)


def sampled(rows_in, path, count, big):
    """Passes the rows through, writing 200 points at random depths of room0 and of room99 to
    `path` (none when `path` is None): `room_id seq position id` a line."""
    if path is None:
        yield from rows_in
        return
    rng = random.Random(13)
    sizes = [0] * ROOMS_N
    for room in room_of(count, big):
        sizes[room] += 1
    wanted = {}
    for room in (0, ROOMS_N - 1):
        for seq in (rng.randint(1, sizes[room]) for _ in range(200 if sizes[room] else 0)):
            wanted[(f"room{room:02d}id", seq)] = True
    with open(path, "w") as f:
        for row in rows_in:
            if (row[1], row[2]) in wanted:
                f.write(f"{row[1]} {row[2]} {row[6]} {row[0]}\n")
            yield row


def user_id(n):
    """The store's ids are lower-case hex (the server's name check reads users by id range)."""
    return f"{n:032x}"


USERS = [(user_id(n), f"user{n}", f"user{n}", 0, "2026-01-01T00:00:00.000Z") for n in range(200)]
ROOMS = [(f"room{n:02d}id", f"room{n}", f"room{n}", 0, "2026-01-01T00:00:00.000Z") for n in range(100)]


def seed_sqlite(path, count, big=0, events=False, samples=None):
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

    def flush(batch):
        db.executemany(
            "INSERT INTO messages (id, room_id, seq, author_id, client_id, body, position, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            batch,
        )
        if events:
            db.executemany(
                "INSERT INTO events (room_id, seq, message_id, payload) VALUES (?, ?, ?, ?)",
                [event(row) for row in batch],
            )
        batch.clear()

    batch = []
    for row in sampled(rows(count, big), samples, count, big):
        batch.append(row)
        if len(batch) == 50_000:
            flush(batch)
    flush(batch)
    db.execute("UPDATE rooms SET last_seq = (SELECT COALESCE(MAX(seq), 0) FROM messages WHERE room_id = rooms.id)")
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def psql(url, sql):
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], check=True)


def seed_postgres(url, count, big=0, events=False, samples=None):
    def esc(v):
        return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for name, data in [("users", USERS), ("rooms", ROOMS)]:
            path = os.path.join(tmp, f"{name}.tsv")
            with open(path, "w") as f:
                for row in data:
                    f.write("\t".join(esc(v) for v in row) + "\n")
            files[name] = path
        files["messages"] = os.path.join(tmp, "messages.tsv")
        files["events"] = os.path.join(tmp, "events.tsv")
        with open(files["messages"], "w") as m, open(files["events"], "w") as e:
            for row in sampled(rows(count, big), samples, count, big):
                m.write("\t".join(esc(v) for v in row) + "\n")
                if events:
                    e.write("\t".join(esc(v) for v in event(row)) + "\n")
        psql(url, "DROP INDEX IF EXISTS messages_search")
        psql(url, f"\\copy users (id, username, username_key, guest, created_at) FROM '{files['users']}'")
        psql(url, f"\\copy rooms (id, name, name_key, last_seq, created_at) FROM '{files['rooms']}'")
        psql(url, f"\\copy messages (id, room_id, seq, author_id, client_id, body, position, created_at) FROM '{files['messages']}'")
        if events:
            psql(url, f"\\copy events (room_id, seq, message_id, payload) FROM '{files['events']}'")
        psql(url, "UPDATE rooms SET last_seq = m.seq FROM (SELECT room_id, MAX(seq) AS seq FROM messages GROUP BY room_id) m WHERE m.room_id = rooms.id")
        psql(url, "CREATE INDEX messages_search ON messages USING GIN (search)")
        psql(url, "VACUUM ANALYZE")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Seeds a migrated Palaver store in bulk.")
    parser.add_argument("kind", choices=["sqlite", "postgres"])
    parser.add_argument("target", help="the SQLite file, or the PostgreSQL URL")
    parser.add_argument("messages", type=int, nargs="?", default=1_000_000)
    parser.add_argument("--big", type=int, default=0, help="messages of room0 (the rest round robin)")
    parser.add_argument("--events", action="store_true", help="log each message's message.created event")
    parser.add_argument("--samples", help="write points at random depths of room0 and room99 here")
    a = parser.parse_args()
    if a.big > a.messages:
        parser.error("--big is more than the messages")
    seed = {"sqlite": seed_sqlite, "postgres": seed_postgres}[a.kind]
    seed(a.target, a.messages, a.big, a.events, a.samples)
