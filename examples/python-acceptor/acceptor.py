#!/usr/bin/env python3
"""A Basic Paxos acceptor speaking ballot's acceptor protocol v1 (and, with
`--peers`, a proposer speaking v1.1: see proposer.py).

A second implementation, in Python 3 with the standard library only, to show
that any program speaking docs/protocol.md can be tested by ballot
(`ballot test --node-cmd "python3 acceptor.py --id {id} --listen
127.0.0.1:{port} --data-dir {data_dir}"`).

Per key the acceptor keeps `promised` (highest ballot promised or accepted),
`accepted` (the proposal accepted last, which is the highest-ballot one) and
`learned` (a value a proposer said was chosen):

- prepare(b) is granted iff b >= promised; then promised := b.
- accept(b, v) is granted iff b >= promised; then promised := b and
  accepted := (b, v).
- learn(b, v) records v; the same value again is fine, another one is 409.

Durability: every state change is appended to `DATA_DIR/acceptor.jsonl` as
one JSON line holding the key's whole new state, and fsynced, before the
reply is sent. At start-up the file is replayed (the last line per key
wins). A torn last line (never acknowledged, since the reply waits for the
fsync) is dropped; any other unreadable line is corruption: the process
exits with status 1 and says where. If a write or fsync fails, the request
gets 500 and the process stops serving (exit status 1).

One lock serialises "decide, append, fsync": simple and obviously correct,
not fast.

`--bug NAME` (repeatable) switches on one deliberate protocol mistake, each
marked `# BUG name:` below and listed in BUGS, so that `ballot conform` can
show it names the broken rule.
"""

import argparse
import ipaddress
import json
import os
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# proposer.py sits beside this file (also when run through runpy).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proposer as proposer_role  # noqa: E402

MAX_KEY_BYTES = 256
MAX_VALUE_BYTES = 64 * 1024
MAX_BODY_BYTES = MAX_VALUE_BYTES + MAX_KEY_BYTES + 1024
MAX_U64 = 2**64 - 1
LOG_NAME = "acceptor.jsonl"

# Deliberate protocol mistakes for `--bug NAME` (see the README).
BUGS = (
    "health-id-string",
    "unknown-fields-ok",
    "key-length-in-chars",
    "no-body-limit",
    "prepare-strict",
    "reject-without-promise",
    "learn-overwrites",
    "learn-sets-promise",
    "ignore-sigterm",
)
bugs = set()


class BadRequest(Exception):
    """The request is malformed; answered with 400."""


class Corrupt(Exception):
    """The state file cannot be trusted; the process refuses to start."""


# ----- validation --------------------------------------------------------


def parse_u64(value, what):
    # bool is an int subclass in Python; JSON true is not a number.
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(f"{what} must be an unsigned integer")
    if value < 0 or value > MAX_U64:
        raise BadRequest(f"{what} is out of range for u64")
    return value


def parse_ballot(value, what="ballot"):
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be an object with round and proposer")
    if set(value) != {"round", "proposer"}:
        raise BadRequest(f"{what} must have exactly the fields round and proposer")
    ballot = (
        parse_u64(value["round"], f"{what}.round"),
        parse_u64(value["proposer"], f"{what}.proposer"),
    )
    if ballot[0] < 1:
        raise BadRequest("ballot round must be at least 1")
    return ballot


def parse_key(value):
    if not isinstance(value, str):
        raise BadRequest("key must be a string")
    if value == "":
        raise BadRequest("key must not be empty")
    size = len(value.encode("utf-8", "surrogatepass"))
    if "key-length-in-chars" in bugs:
        # BUG key-length-in-chars: counts characters, not UTF-8 bytes.
        size = len(value)
    if size > MAX_KEY_BYTES:
        raise BadRequest(f"key is {size} bytes, more than the limit of {MAX_KEY_BYTES}")
    return value


def parse_value(value):
    if not isinstance(value, str):
        raise BadRequest("value must be a string")
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_VALUE_BYTES:
        raise BadRequest(f"value is {size} bytes, more than the limit of {MAX_VALUE_BYTES}")
    return value


def parse_request(body, fields):
    """Parses a JSON object with exactly `fields` (a subset of key, ballot, value)."""
    try:
        text = body.decode("utf-8")
        obj = json.loads(text, parse_constant=reject_constant)
    except (UnicodeDecodeError, ValueError) as e:
        raise BadRequest(f"invalid request body: {e}") from None
    if not isinstance(obj, dict):
        raise BadRequest("invalid request body: expected a JSON object")
    if "unknown-fields-ok" in bugs:
        # BUG unknown-fields-ok: only checks that the needed fields are there.
        if not set(fields) <= set(obj):
            raise BadRequest(f"invalid request body: expected the fields {', '.join(fields)}")
    elif set(obj) != set(fields):
        raise BadRequest(f"invalid request body: expected exactly the fields {', '.join(fields)}")
    out = {"key": parse_key(obj["key"]), "ballot": parse_ballot(obj["ballot"])}
    if "value" in fields:
        out["value"] = parse_value(obj["value"])
    # A lone surrogate ("\ud800") parses in Python but is not UTF-8.
    for name in ("key", "value"):
        if name in out:
            try:
                out[name].encode("utf-8")
            except UnicodeEncodeError:
                raise BadRequest(f"{name} is not valid UTF-8") from None
    return out


def reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def rejection_promise(promised):
    if "reject-without-promise" in bugs:
        # BUG reject-without-promise: a rejection does not say what was promised.
        return None
    return ballot_json(promised)


def ballot_json(ballot):
    return None if ballot is None else {"round": ballot[0], "proposer": ballot[1]}


def accepted_json(accepted):
    return None if accepted is None else {"ballot": ballot_json(accepted[0]), "value": accepted[1]}


# ----- durable state -----------------------------------------------------


class Store:
    """The acceptor state and its append-only, fsynced log."""

    def __init__(self, data_dir):
        os.makedirs(data_dir, exist_ok=True)
        self.path = os.path.join(data_dir, LOG_NAME)
        self.instances = {}  # key -> {"promised", "accepted", "learned"}
        self.failed = None
        existed = os.path.exists(self.path)
        self.replay()
        self.file = open(self.path, "ab")
        if not existed:
            # Make the new file's directory entry durable too.
            self.file.flush()
            os.fsync(self.file.fileno())
            dir_fd = os.open(data_dir, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def replay(self):
        if not os.path.exists(self.path):
            return
        with open(self.path, "rb") as f:
            data = f.read()
        good_end = 0
        lines = data.split(b"\n")
        # After the last "\n" comes either nothing or a torn record.
        complete, tail = lines[:-1], lines[-1]
        for number, line in enumerate(complete, start=1):
            try:
                key, state = decode_record(line)
            except (ValueError, BadRequest) as e:
                # A complete line (it ends in a newline) that does not parse
                # was damaged after it was written: corruption.
                raise Corrupt(f"{self.path}: line {number} is corrupt: {e}") from None
            self.instances[key] = state
            good_end += len(line) + 1
        if tail:
            # A torn last record: it was never fsynced as a whole, so never
            # acknowledged. Drop it so the next append starts on a clean line.
            print(
                f"acceptor: dropping a torn last record ({len(tail)} bytes) in {self.path}",
                file=sys.stderr,
            )
            with open(self.path, "r+b") as f:
                f.truncate(good_end)
                f.flush()
                os.fsync(f.fileno())

    def state(self, key):
        return self.instances.get(key, {"promised": None, "accepted": None, "learned": None})

    def commit(self, key, new_state):
        """Appends the key's new state and fsyncs; only then updates memory."""
        record = {
            "key": key,
            "promised": ballot_json(new_state["promised"]),
            "accepted": accepted_json(new_state["accepted"]),
            "learned": new_state["learned"],
        }
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        try:
            self.file.write(line)
            self.file.flush()
            os.fsync(self.file.fileno())
        except OSError as e:
            self.failed = f"cannot persist state: {e}"
            raise
        self.instances[key] = new_state


def decode_record(line):
    obj = json.loads(line.decode("utf-8"), parse_constant=reject_constant)
    if not isinstance(obj, dict) or set(obj) != {"key", "promised", "accepted", "learned"}:
        raise ValueError("not a state record")
    key = parse_key(obj["key"])
    promised = None if obj["promised"] is None else parse_ballot(obj["promised"], "promised")
    accepted = None
    if obj["accepted"] is not None:
        a = obj["accepted"]
        if not isinstance(a, dict) or set(a) != {"ballot", "value"}:
            raise ValueError("accepted must have ballot and value")
        accepted = (parse_ballot(a["ballot"], "accepted.ballot"), parse_value(a["value"]))
    learned = obj["learned"]
    if learned is not None:
        learned = parse_value(learned)
    return key, {"promised": promised, "accepted": accepted, "learned": learned}


# ----- the acceptor ------------------------------------------------------


class Acceptor:
    def __init__(self, node_id, store):
        self.node_id = node_id
        self.store = store
        self.lock = threading.Lock()

    def prepare(self, req):
        with self.lock:
            state = self.store.state(req["key"])
            promised = state["promised"]
            below = promised is not None and req["ballot"] < promised
            if "prepare-strict" in bugs:
                # BUG prepare-strict: `<=`, so a duplicated prepare is refused.
                below = promised is not None and req["ballot"] <= promised
            if below:
                return 200, {"ok": False, "promised": rejection_promise(promised), "accepted": accepted_json(state["accepted"])}
            if promised != req["ballot"]:
                self.store.commit(req["key"], dict(state, promised=req["ballot"]))
            return 200, {"ok": True, "promised": ballot_json(req["ballot"]), "accepted": accepted_json(state["accepted"])}

    def accept(self, req):
        with self.lock:
            state = self.store.state(req["key"])
            promised = state["promised"]
            if promised is not None and req["ballot"] < promised:
                return 200, {"ok": False, "promised": rejection_promise(promised)}
            new_state = dict(state, promised=req["ballot"], accepted=(req["ballot"], req["value"]))
            if new_state != state:
                self.store.commit(req["key"], new_state)
            return 200, {"ok": True, "promised": ballot_json(req["ballot"])}

    def learn(self, req):
        with self.lock:
            state = self.store.state(req["key"])
            learned = state["learned"]
            if "learn-sets-promise" in bugs:
                # BUG learn-sets-promise: treats the learn's ballot as a promise.
                state = dict(state, promised=req["ballot"])
            if "learn-overwrites" in bugs and learned is not None:
                # BUG learn-overwrites: a second, different value replaces the first.
                learned = None
            if learned is None:
                self.store.commit(req["key"], dict(state, learned=req["value"]))
            elif learned != req["value"]:
                return 409, {
                    "error": f"key {req['key']!r} already learned value {learned!r}, "
                    f"refusing different value {req['value']!r}"
                }
            return 200, {"ok": True}

    def dump(self):
        with self.lock:
            instances = {
                key: {
                    "promised": ballot_json(s["promised"]),
                    "accepted": accepted_json(s["accepted"]),
                    "learned": s["learned"],
                }
                for key, s in sorted(self.store.instances.items())
            }
            return 200, {"node": self.node_id, "instances": instances}


# ----- HTTP --------------------------------------------------------------

POSTS = {
    "/v1/prepare": ("prepare", ("key", "ballot")),
    "/v1/accept": ("accept", ("key", "ballot", "value")),
    "/v1/learn": ("learn", ("key", "ballot", "value")),
}
GETS = ("/v1/state", "/v1/health")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so proposers can pool connections
    timeout = 30  # a client that stalls mid-request does not hold a thread forever
    server_version = "python-acceptor/1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # one line per request would drown the logs

    def reply(self, status, obj):
        body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        acceptor = self.server.acceptor
        if self.path == "/v1/health":
            roles = ["acceptor", "proposer"] if self.server.proposer else ["acceptor"]
            node = acceptor.node_id
            if "health-id-string" in bugs:
                # BUG health-id-string: the id as argparse gives it without type=int.
                node = str(node)
            self.reply(200, {"node": node, "ok": True, "roles": roles})
        elif self.path == "/v1/state":
            self.reply(*acceptor.dump())
        elif self.path in POSTS:
            self.reply(405, {"error": "method not allowed for this endpoint"})
        else:
            self.reply(404, {"error": "no such endpoint"})

    def do_POST(self):
        if self.server.proposer and self.path in ("/v1/propose", "/v1/read"):
            return self.client_request()
        if self.path in GETS:
            self.close_connection = True
            return self.reply(405, {"error": "method not allowed for this endpoint"})
        if self.path not in POSTS:
            self.close_connection = True
            return self.reply(404, {"error": "no such endpoint"})
        length = self.headers.get("Content-Length")
        try:
            length = int(length)
        except (TypeError, ValueError):
            self.close_connection = True
            return self.reply(400, {"error": "a Content-Length header is required"})
        too_big = length > MAX_BODY_BYTES
        if "no-body-limit" in bugs:
            # BUG no-body-limit: reads a body of any size.
            too_big = False
        if length < 0 or too_big:
            self.close_connection = True  # the body is not read
            return self.reply(400, {"error": f"request body is larger than the limit of {MAX_BODY_BYTES} bytes"})
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            return
        method, fields = POSTS[self.path]
        try:
            req = parse_request(body, fields)
        except BadRequest as e:
            return self.reply(400, {"error": str(e)})
        acceptor = self.server.acceptor
        try:
            status, obj = getattr(acceptor, method)(req)
        except OSError:
            self.close_connection = True
            self.reply(500, {"error": acceptor.store.failed or "cannot persist state"})
            stop(self.server, 1)
            return
        self.reply(status, obj)

    def client_request(self):
        """`/v1/propose` or `/v1/read` (protocol v1.1): run Basic Paxos from here."""
        try:
            length = int(self.headers.get("Content-Length"))
            if not 0 <= length <= MAX_BODY_BYTES:
                raise ValueError("body too large")
            req = json.loads(self.rfile.read(length))
            key = parse_key(req.get("key"))
            value = None if self.path == "/v1/read" else parse_value(req.get("value"))
            if set(req) - {"key", "value"} or (self.path == "/v1/read" and "value" in req):
                raise BadRequest("unknown field")
        except (TypeError, ValueError, AttributeError, BadRequest) as e:
            self.close_connection = True
            return self.reply(400, {"ok": False, "definite": True, "error": f"invalid request body: {e}"})
        process = self.headers.get("x-ballot-process", "0")
        self.reply(*self.server.proposer.run(key, value, process))

    def do_PUT(self):
        self.close_connection = True
        self.reply(405 if self.path in POSTS or self.path in GETS else 404, {"error": "method not allowed"})

    do_DELETE = do_PUT
    do_PATCH = do_PUT


class Server(ThreadingHTTPServer):
    daemon_threads = True
    exit_status = 0
    proposer = None


def stop(server, status):
    """Stops serve_forever from any thread (never the serving thread itself)."""
    server.exit_status = max(server.exit_status, status)
    threading.Thread(target=server.shutdown, daemon=True).start()


def parse_listen(text):
    host, sep, port = text.rpartition(":")
    if not sep:
        raise ValueError("--listen must be HOST:PORT")
    host = host.strip("[]")
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"--listen {text}: this acceptor binds to loopback addresses only")
    port = int(port)
    if not 0 <= port <= 65535:
        raise ValueError(f"--listen {text}: port out of range")
    return host, port


def main():
    parser = argparse.ArgumentParser(description="Basic Paxos acceptor (ballot protocol v1), Python edition.")
    parser.add_argument("--id", type=int, required=True, help="this node's id")
    parser.add_argument("--listen", required=True, help="loopback HOST:PORT to listen on")
    parser.add_argument("--data-dir", required=True, help="directory of the durable state; reuse it on restart")
    parser.add_argument("--peers", help="serve the proposer role (v1.1) against ID=HOST:PORT,... (this node included)")
    parser.add_argument("--proposer-bug", choices=proposer_role.BUGS, help="a deliberate proposer bug")
    parser.add_argument("--bug", action="append", default=[], choices=BUGS, help="a deliberate protocol mistake (repeatable)")
    args = parser.parse_args()
    bugs.update(args.bug)
    peers = None
    if args.peers is not None:
        try:
            peers = proposer_role.parse_peers(args.peers)
        except ValueError as e:
            parser.error(f"--peers: {e}")
    elif args.proposer_bug:
        parser.error("--proposer-bug needs --peers")
    if not 0 <= args.id <= MAX_U64:
        parser.error("--id must be an unsigned 64-bit integer")
    try:
        host, port = parse_listen(args.listen)
    except ValueError as e:
        parser.error(str(e))
    try:
        store = Store(args.data_dir)
    except Corrupt as e:
        print(f"acceptor: refusing to start: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"acceptor: cannot open the data directory {args.data_dir}: {e}", file=sys.stderr)
        return 1
    if ":" in host:
        Server.address_family = socket.AF_INET6
    try:
        server = Server((host, port), Handler)
    except OSError as e:
        print(f"acceptor: cannot listen on {args.listen}: {e}", file=sys.stderr)
        return 1
    server.acceptor = Acceptor(args.id, store)
    if peers:
        server.proposer = proposer_role.Proposer(args.id, peers, args.proposer_bug)
    if "ignore-sigterm" in bugs:
        # BUG ignore-sigterm: SIGTERM does not stop it (only SIGKILL does).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: stop(server, 0))
    signal.signal(signal.SIGINT, lambda *_: stop(server, 0))
    bound_host, bound_port = server.server_address[:2]
    print(f"listening on {bound_host}:{bound_port}", file=sys.stderr, flush=True)
    server.serve_forever(poll_interval=0.05)
    server.server_close()
    if store.failed:
        print(f"acceptor: stopped: {store.failed}", file=sys.stderr)
    return server.exit_status


if __name__ == "__main__":
    sys.exit(main())
