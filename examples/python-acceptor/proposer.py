"""The proposer role of ballot's protocol v1.1, in Python: `/v1/propose` and
`/v1/read` run Basic Paxos from this node against its peers' acceptor
endpoints (`--peers ID=HOST:PORT,...`, this node included; in a ballot run
each address is a proxy listener for the link from this node).

The rules (docs/protocol.md, "Rules a proposer must follow"):

- unique ballots: the proposer half of a ballot is `node + peers * n` for the
  node's n-th operation, so no two operations anywhere share one;
- a true majority: more than half of *all* peers, in both phases;
- after a majority promised, propose the value of the highest-ballot accepted
  proposal they report, and only with none your own value;
- chosen means a majority accepted the same ballot; only then answer `ok` and
  send learn;
- a read that sees an accepted value gets it accepted by a majority first;
- `"definite": true` only when no accept request ever left this node.

`--proposer-bug own-value` breaks the third rule on purpose (it proposes its
own value whatever the promises report), so ballot must catch it.
"""

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ATTEMPTS = 5
REQUEST_TIMEOUT = 0.5
DEADLINE = 1.5
BUGS = ("own-value",)


def parse_peers(text):
    """`ID=HOST:PORT,...` -> [(host, port)] in id order."""
    peers = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        node, sep, addr = entry.partition("=")
        host, sep2, port = addr.rpartition(":")
        if not sep or not sep2 or not node.strip().isdigit() or not port.isdigit():
            raise ValueError(f"peer {entry!r} is not ID=HOST:PORT")
        if int(node) in peers:
            raise ValueError(f"peer id {node} is listed twice")
        peers[int(node)] = (host, int(port))
    if not peers:
        raise ValueError("the peer list is empty")
    return [peers[i] for i in sorted(peers)]


def ballot_key(ballot):
    return (ballot["round"], ballot["proposer"])


class Proposer:
    def __init__(self, node_id, peers, bug=None):
        self.node_id = node_id
        self.peers = peers
        self.bug = bug
        self.lock = threading.Lock()
        self.operations = 0
        self.last_round = 0
        self.pool = ThreadPoolExecutor(max_workers=4 * len(peers) + 4)

    def majority(self):
        return len(self.peers) // 2 + 1

    def next_ballot(self, proposer_id):
        with self.lock:
            self.last_round += 1
            return {"round": self.last_round, "proposer": proposer_id}

    def saw(self, ballot):
        if ballot:
            with self.lock:
                self.last_round = max(self.last_round, ballot["round"])

    def call(self, peer, path, body, process):
        """(status, reply) or (None, None) when there is no usable answer."""
        host, port = self.peers[peer]
        conn = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT)
        try:
            conn.request("POST", path, json.dumps(body), {
                "Content-Type": "application/json",
                "x-ballot-process": str(process),
            })
            response = conn.getresponse()
            data = response.read()
            try:
                return response.status, json.loads(data)
            except ValueError:
                return response.status, None
        except OSError:
            return None, None
        finally:
            conn.close()

    def broadcast(self, path, body, process):
        futures = [self.pool.submit(self.call, p, path, body, process) for p in range(len(self.peers))]
        return [f.result() for f in futures]

    def run(self, key, value, process):
        """Basic Paxos for `key`; `value` None is a read. Returns (status, reply)."""
        with self.lock:
            self.operations += 1
            proposer_id = self.node_id + len(self.peers) * self.operations
        deadline = time.monotonic() + DEADLINE
        sent_accept = False
        why = "no attempt made"
        for attempt in range(ATTEMPTS):
            if time.monotonic() >= deadline:
                why = f"timeout after {DEADLINE} s"
                break
            if attempt:
                time.sleep(min(0.005 * 2 ** attempt, 0.1))
            ballot = self.next_ballot(proposer_id)
            promises = []
            for status, reply in self.broadcast("/v1/prepare", {"key": key, "ballot": ballot}, process):
                if status == 200 and isinstance(reply, dict):
                    self.saw(reply.get("promised"))
                    if reply.get("ok"):
                        promises.append(reply)
            if len(promises) < self.majority():
                why = f"prepare {ballot['round']}.{proposer_id}: {len(promises)} promises, need {self.majority()}"
                continue
            accepted = [p["accepted"] for p in promises if p.get("accepted")]
            if accepted and (value is None or self.bug != "own-value"):
                chosen = max(accepted, key=lambda a: ballot_key(a["ballot"]))["value"]
            elif value is None:
                return 200, {"ok": True, "value": None}  # nothing accepted by a majority: nothing chosen
            else:
                chosen = value  # BUG own-value skips the branch above
            sent_accept = True
            acks = 0
            body = {"key": key, "ballot": ballot, "value": chosen}
            for status, reply in self.broadcast("/v1/accept", body, process):
                if status == 200 and isinstance(reply, dict):
                    self.saw(reply.get("promised"))
                    acks += bool(reply.get("ok"))
            if acks >= self.majority():
                self.pool.submit(self.broadcast, "/v1/learn", body, process)
                return 200, {"ok": True, "value": chosen}
            why = f"accept {ballot['round']}.{proposer_id}: {acks} acks, need {self.majority()}"
        definite = not sent_accept or value is None
        return 503, {"ok": False, "definite": definite, "error": why}
