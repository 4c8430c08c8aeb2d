#!/usr/bin/env python3
"""A Palaver bot in Python 3.11, standard library only: it answers `!ping` with `pong`.

It reads one room's event log over REST with long-polling (GET /api/rooms/{id}/events?after=&wait=),
so it never misses a message, even across restarts when given --after; and it sends with a
client_id made from the message it answers ("pong-<message id>"), so a retried or repeated
answer is stored once (the server answers a retry with the original message).

    PALAVER_BOT_TOKEN=<token from POST /api/bots> \
        python3 examples/bot.py --url http://127.0.0.1:8080 --room <room id>

Options: --after SEQ (read the log after this seq; default: from now on), --max-replies N
(stop after N answers), --deadline SECONDS (stop after this long). The URL, token and room may
also come from PALAVER_URL, PALAVER_BOT_TOKEN and PALAVER_ROOM.
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request


class ApiError(Exception):
    """An error answer: its HTTP status and Palaver's error code."""

    def __init__(self, status, code, message):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code


class Palaver:
    """The few REST calls a bot needs, signed with its bearer token."""

    def __init__(self, url, token):
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method, path, body=None, timeout=40):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                text = answer.read()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as err:
            try:
                error = json.loads(err.read())["error"]
            except (ValueError, KeyError, TypeError):
                error = {"code": "http_error", "message": str(err)}
            raise ApiError(err.code, error.get("code"), error.get("message")) from None

    def me(self):
        return self.call("GET", "/api/me")

    def room(self, room_id):
        return self.call("GET", f"/api/rooms/{room_id}")

    def events(self, room_id, after, wait):
        return self.call("GET", f"/api/rooms/{room_id}/events?after={after}&wait={wait}")

    def send(self, room_id, client_id, body):
        message = {"client_id": client_id, "body": body}
        return self.call("POST", f"/api/rooms/{room_id}/messages", message)


def answer(message):
    """The bot's reply to a message, or None."""
    if message["body"].startswith("!ping"):
        return "pong"
    return None


def run(api, room_id, after, max_replies, deadline, wait):
    me = api.me()
    if after is None:
        after = api.room(room_id)["last_seq"]
    print(f"{me['username']} reading room {room_id} after seq {after}", file=sys.stderr)
    replies = 0
    backoff = 1
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            print("deadline reached", file=sys.stderr)
            return 0
        poll = wait if left is None else max(0, min(wait, int(left)))
        try:
            page = api.events(room_id, after, poll)
            backoff = 1
        except ApiError as err:
            if err.status in (429, 502, 503, 504):
                time.sleep(backoff)
                backoff = min(backoff * 2, 30)
                continue
            raise
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            print(f"connection trouble ({err}); retrying", file=sys.stderr)
            time.sleep(backoff)
            backoff = min(backoff * 2, 30)
            continue
        for event in page["events"]:
            after = event["seq"]
            if event["kind"] == "room.deleted":
                print("the room was deleted", file=sys.stderr)
                return 0
            if event["kind"] != "message.created":
                continue
            message = event["message"]
            if message["author"]["id"] == me["id"]:
                continue
            reply = answer(message)
            if reply is None:
                continue
            # The same ping always gets the same client_id: answering it twice stores one pong.
            api.send(room_id, f"pong-{message['id']}", reply)
            replies += 1
            print(f"answered {message['author']['username']}", file=sys.stderr)
            if max_replies and replies >= max_replies:
                return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description="A Palaver bot that answers !ping with pong.")
    parser.add_argument("--url", default=os.environ.get("PALAVER_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--token", default=os.environ.get("PALAVER_BOT_TOKEN"))
    parser.add_argument("--room", default=os.environ.get("PALAVER_ROOM"))
    parser.add_argument("--after", type=int, default=None, help="read the log after this seq")
    parser.add_argument("--max-replies", type=int, default=0, help="stop after N replies")
    parser.add_argument("--deadline", type=float, default=0, help="stop after this many seconds")
    parser.add_argument("--wait", type=int, default=25, help="long-poll seconds (1-30)")
    args = parser.parse_args(argv)
    if not args.token or not args.room:
        parser.error("a token (--token or PALAVER_BOT_TOKEN) and a room (--room) are needed")
    deadline = time.monotonic() + args.deadline if args.deadline > 0 else None
    api = Palaver(args.url, args.token)
    try:
        return run(api, args.room, args.after, args.max_replies, deadline, min(max(args.wait, 1), 30))
    except ApiError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
