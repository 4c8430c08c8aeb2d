"""Schemathesis hooks for scripts/test-openapi.sh: keep the fuzz run bounded in time and let it
reach past the 404s of made-up ids. Generic over the document: they act on parameter names, not
on endpoints.

- `wait` (any long-poll): at most 1 second, so a long-poll can't hold a worker for 30 s.
- a `room_id` or `message_id` path parameter: every other generated value (chosen from the value
  itself, so a run is reproducible) becomes a real room or message (PALAVER_FUZZ_ROOM,
  PALAVER_FUZZ_MESSAGE), so the answers that carry bodies (200s) are checked against their
  schemas too, not only the not-found ones.
"""

import os
import zlib

import schemathesis

REAL = {
    "room_id": os.environ.get("PALAVER_FUZZ_ROOM"),
    "message_id": os.environ.get("PALAVER_FUZZ_MESSAGE"),
}


def _short_wait(query):
    """At most 1 s of long-poll: `wait` as a number or as the digits of one."""
    if not isinstance(query, dict) or "wait" not in query:
        return query
    wait = query["wait"]
    if isinstance(wait, int) and not isinstance(wait, bool) and wait > 1:
        query["wait"] = 1
    elif isinstance(wait, str) and wait.isdigit() and int(wait) > 1:
        query["wait"] = "1"
    return query


@schemathesis.hook
def map_query(context, query):
    return _short_wait(query)


@schemathesis.hook
def before_call(context, case, kwargs):
    # Every phase (the coverage phase's boundary values, 29 and 30, don't pass map_query).
    if isinstance(kwargs.get("params"), dict):
        _short_wait(kwargs["params"])
    _short_wait(case.query)


@schemathesis.hook
def map_path_parameters(context, path_parameters):
    if not isinstance(path_parameters, dict):
        return path_parameters
    for name, real in REAL.items():
        if real and name in path_parameters:
            value = str(path_parameters[name]).encode("utf-8", "surrogatepass")
            if zlib.crc32(value) % 2 == 0:
                path_parameters[name] = real
    return path_parameters
