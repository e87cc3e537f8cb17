#!/usr/bin/env python3
"""Chaos test of webhook delivery (issue 13), run by .ci/run.

    python3 examples/chaos/webhooks.py --bin target/release/scimd [--postgres URL]

SQLite: one scimd serves a tenant with a webhook to a receiver; while users
are created and changed, the receiver is killed and restarted, and scimd is
killed with SIGKILL mid-delivery and restarted on the same database.
PostgreSQL (with --postgres): two scimd replicas on one database serve the
same tenant; one is killed with SIGKILL and restarted while both deliver.
Then a third replica with another secrets key must refuse to start; a secret
rotated through one replica signs what the other sends from then on; a test
send arrives; and a replay of the whole feed sends every event again.

Then, for every event in the tenant's feed: it reached the receiver at least
once, every request's signature verifies (Standard Webhooks 1.0), a subject's
events arrived in feed order (a repeat of an event only before the next one
of its subject), and no event was being delivered by two senders at once.
Exit status 0 when all hold; the reasons otherwise.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RECEIVER_DELAY = 0.02  # seconds each request is held, so overlaps would show


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def receiver_main(port, log_path):
    """A product's endpoint: appends each request to a JSON-lines file."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            start = time.time()
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            time.sleep(RECEIVER_DELAY)
            end = time.time()
            row = {
                "id": self.headers.get("webhook-id"),
                "timestamp": self.headers.get("webhook-timestamp"),
                "signature": self.headers.get("webhook-signature"),
                "body": body.decode(),
                "start": start,
                "end": end,
            }
            with lock, open(log_path, "a") as f:
                f.write(json.dumps(row) + "\n")
                f.flush()
                os.fsync(f.fileno())
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


class Receiver:
    def __init__(self, log_path):
        self.port = free_port()
        self.log_path = log_path
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--receiver", str(self.port), self.log_path]
        )
        wait_port(self.port)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def rows(self):
        if not os.path.exists(self.log_path):
            return []
        with open(self.log_path) as f:
            return [json.loads(line) for line in f if line.strip()]


def wait_port(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port}")


def call(method, url, token, body=None, content_type="application/scim+json"):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", content_type)
    for attempt in range(50):
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                text = resp.read().decode()
                return resp.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read().decode() or "null")
        except (urllib.error.URLError, ConnectionError):
            # The server is being restarted: the client waits, as an IdP does.
            time.sleep(0.2)
    raise SystemExit(f"{method} {url}: no answer")


class Scimd:
    def __init__(self, bin_path, db_url, work, env_extra, name):
        self.bin = bin_path
        self.db_url = db_url
        self.port = free_port()
        self.work = work
        self.env = dict(os.environ, SCIMD_DATABASE_URL=db_url, **env_extra)
        self.name = name
        self.proc = None

    def cli(self, *args):
        out = subprocess.run([self.bin, *args], env=self.env, cwd=self.work, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"scimd {' '.join(args)}: {out.stderr}")
        return out.stdout.strip()

    def start(self):
        log = open(os.path.join(self.work, f"{self.name}.log"), "a")
        self.proc = subprocess.Popen(
            [
                self.bin, "serve", "--listen", f"127.0.0.1:{self.port}", "--no-bootstrap",
                "--webhook-allow-private-targets", "--webhook-timeout-secs", "2",
                "--webhook-retry-schedule", ",".join(["0"] + ["1"] * 29),
            ],
            env=self.env, cwd=self.work, stdout=log, stderr=log,
        )
        wait_port(self.port)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"


# With --standardwebhooks, every request is also verified by the Standard
# Webhooks reference library (PyPI `standardwebhooks`), as a product would.
STANDARD_WEBHOOKS = None


def verify(secret, row):
    if STANDARD_WEBHOOKS is not None:
        headers = {"webhook-id": row["id"], "webhook-timestamp": str(row["timestamp"]),
                   "webhook-signature": row["signature"] or ""}
        try:
            STANDARD_WEBHOOKS(secret).verify(row["body"], headers)
        except Exception:  # the library raises its own WebhookVerificationError
            return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{row['id']}.{row['timestamp']}.{row['body']}".encode()
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(part.removeprefix("v1,"), expected)
        for part in (row["signature"] or "").split(" ")
        if part.startswith("v1,")
    )


def feed(server, admin_token):
    events, after = [], ""
    while True:
        status, page = call("GET", server.url(f"/admin/v1/tenants/chaos/events?limit=1000&after={after}"), admin_token)
        assert status == 200, page
        if not page["data"]:
            return events
        events.extend(page["data"])
        after = page["next"]


def write_load(servers, scim_token, users, stop_at_index=None, on_progress=None, prefix="u"):
    """Create users and change each twice, round-robin over the servers."""
    ids = []
    for i in range(users):
        s = servers[i % len(servers)]
        status, body = call(
            "POST", s.url("/scim/v2/chaos/Users"), scim_token,
            {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": f"{prefix}{i}@chaos.test"},
        )
        assert status == 201, (status, body)
        ids.append(body["id"])
        if on_progress:
            on_progress(i)
    for round_ in range(2):
        for n, uid in enumerate(ids):
            s = servers[n % len(servers)]
            op = [{"op": "replace", "path": "title", "value": f"t{round_}"}]
            status, body = call(
                "PATCH", s.url(f"/scim/v2/chaos/Users/{uid}"), scim_token,
                {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": op},
            )
            assert status == 200, (status, body)
            if on_progress:
                on_progress(users + round_ * users + n)


def check(name, server, admin_token, secret, receiver, timeout=180):
    problems = []
    events = feed(server, admin_token)
    wanted = {e["id"] for e in events}
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = {r["id"] for r in receiver.rows()}
        if wanted <= got:
            break
        time.sleep(0.5)
    rows = receiver.rows()
    got = {r["id"] for r in rows}
    missing = wanted - got
    if missing:
        problems.append(f"{len(missing)} of {len(wanted)} events never reached the receiver")
    bad = [r["id"] for r in rows if not verify(secret, r)]
    if bad:
        problems.append(f"{len(bad)} requests had a signature that does not verify")
    order = {}
    for e in events:
        order.setdefault((e["subject"]["type"], e["subject"]["id"]), []).append(e["id"])
    index = {eid: (subj, i) for subj, ids in order.items() for i, eid in enumerate(ids)}
    seen = {}
    for r in sorted(rows, key=lambda r: r["start"]):
        if r["id"] not in index:
            continue
        subj, i = index[r["id"]]
        if i < seen.get(subj, -1):
            problems.append(f"{subj}: event {i} arrived after event {seen[subj]}")
        seen[subj] = max(seen.get(subj, -1), i)
    by_event = {}
    for r in rows:
        by_event.setdefault(r["id"], []).append((r["start"], r["end"]))
    overlapping = 0
    for spans in by_event.values():
        spans.sort()
        overlapping += sum(1 for a, b in zip(spans, spans[1:]) if b[0] < a[1])
    if overlapping:
        problems.append(f"{overlapping} times an event was being delivered twice at once")
    repeats = len(rows) - len(got)
    print(f"{name}: {len(events)} events in the feed, {len(rows)} requests received "
          f"({repeats} repeats after kills), {len(missing)} missing, {len(bad)} bad signatures, "
          f"{overlapping} concurrent duplicates")
    return problems


def setup_tenant(server, receiver):
    server.cli("tenant", "create", "chaos")
    scim_token = server.cli("token", "create", "--tenant", "chaos", "--name", "okta")
    admin_token = server.cli("admin-token", "create", "--name", f"chaos-{time.time_ns()}")
    return scim_token, admin_token


def create_hook(server, admin_token, receiver):
    status, hook = call(
        "POST", server.url("/admin/v1/tenants/chaos/webhooks"), admin_token,
        {"url": f"http://127.0.0.1:{receiver.port}/hook"}, "application/json",
    )
    assert status == 201, hook
    return hook["secret"]


def hook_id(server, admin_token):
    status, hooks = call("GET", server.url("/admin/v1/tenants/chaos/webhooks"), admin_token)
    assert status == 200, hooks
    return hooks["data"][0]["id"]


def replica_without_the_key(bin_path, db_url, work):
    """Issue 20, item 1: a replica with another secrets key refuses to start while webhooks exist."""
    other = base64.b64encode(os.urandom(32)).decode()
    env = dict(os.environ, SCIMD_DATABASE_URL=db_url, SCIMD_SECRETS_KEY=other)
    try:
        out = subprocess.run(
            [bin_path, "serve", "--listen", f"127.0.0.1:{free_port()}", "--no-bootstrap"],
            env=env, cwd=work, capture_output=True, text=True, timeout=30,
        )
    except subprocess.TimeoutExpired:
        return ["a replica with another secrets key started and served"]
    said = out.stdout + out.stderr
    if out.returncode == 0 or "sha256:" not in said:
        return [f"a replica with another secrets key: exit {out.returncode}, said {said[-300:]!r}"]
    print("postgres: a replica with another secrets key refused to start, naming the fingerprint it needs")
    return []


def rotation_test_send_and_replay(a, b, admin_token, scim_token, receiver, users):
    """Issue 20, items 5 and 6, across two replicas: a rotation made through one,
    writes through the other, each signed with the new secret from the
    rotation on; a test send; a replay of the whole feed, every request
    verifying with the new secret."""
    problems = []
    hook = hook_id(a, admin_token)
    status, rotated = call("POST", b.url(f"/admin/v1/tenants/chaos/webhooks/{hook}/rotate-secret"), admin_token,
                           {}, "application/json")
    assert status == 200, rotated
    new_secret, rotated_at = rotated["secret"], time.time()
    before = len(receiver.rows())
    write_load([a], scim_token, users, prefix="rotated")
    status, sent = call("POST", a.url(f"/admin/v1/tenants/chaos/webhooks/{hook}/test"), admin_token, {},
                        "application/json")
    if status != 200 or not sent.get("delivered"):
        problems.append(f"the test send was not delivered: {status} {sent}")
    events = feed(a, admin_token)
    status, replayed = call("POST", b.url(f"/admin/v1/tenants/chaos/webhooks/{hook}/replay"), admin_token,
                            {"after": ""}, "application/json")
    if status != 202:
        problems.append(f"the replay was refused: {status} {replayed}")
    want = {e["id"] for e in events}
    deadline = time.time() + 180
    while time.time() < deadline:
        counts = {}
        for r in receiver.rows()[before:]:
            counts[r["id"]] = counts.get(r["id"], 0) + 1
        if all(counts.get(i, 0) >= 1 for i in want) and sum(counts.values()) >= len(want) + 1:
            break
        time.sleep(0.5)
    after_rotation = [r for r in receiver.rows()[before:] if r["start"] > rotated_at]
    unsigned = [r["id"] for r in after_rotation if not verify(new_secret, r)]
    if unsigned:
        problems.append(f"{len(unsigned)} of {len(after_rotation)} requests after the rotation do not verify "
                        "with the new secret")
    tests = [r for r in after_rotation if json.loads(r["body"]).get("type") == "webhook.test"]
    if len(tests) != 1:
        problems.append(f"{len(tests)} webhook.test requests arrived, not 1")
    replayed_ids = {r["id"] for r in after_rotation}
    missing = want - replayed_ids
    if missing:
        problems.append(f"{len(missing)} of {len(want)} events were not sent again by the replay")
    print(f"postgres: rotation through replica b, {len(after_rotation)} requests since, {len(unsigned)} not "
          f"signed with the new secret; test send {'delivered' if not problems else 'see above'}; replay of "
          f"{replayed.get('queued')} events, {len(missing)} not sent again")
    return problems


def sqlite_phase(bin_path, users):
    work = tempfile.mkdtemp(prefix="scimd-chaos-")
    receiver = Receiver(os.path.join(work, "received.jsonl"))
    receiver.start()
    server = Scimd(bin_path, f"sqlite://{work}/chaos.db", work, {}, "sqlite")
    scim_token, admin_token = setup_tenant(server, receiver)
    server.start()
    secret = create_hook(server, admin_token, receiver)
    total = users * 3
    chaos = {int(total * 0.2): "receiver down", int(total * 0.35): "receiver up",
             int(total * 0.5): "scimd SIGKILL", int(total * 0.8): "receiver down", int(total * 0.85): "receiver up"}

    def progress(i):
        what = chaos.pop(i, None)
        if what == "receiver down":
            receiver.kill()
        elif what == "receiver up":
            receiver.start()
        elif what == "scimd SIGKILL":
            server.kill9()
            server.start()
        if what:
            print(f"sqlite: {what} after {i} writes")

    write_load([server], scim_token, users, on_progress=progress)
    problems = check("sqlite", server, admin_token, secret, receiver)
    server.stop()
    receiver.kill()
    return problems


def postgres_phase(bin_path, users, admin_url):
    work = tempfile.mkdtemp(prefix="scimd-chaos-pg-")
    db = f"scimd_chaos_{os.getpid()}"
    subprocess.run(["psql", admin_url, "-qc", f"DROP DATABASE IF EXISTS {db}", "-c", f"CREATE DATABASE {db}"], check=True)
    db_url = admin_url.rsplit("/", 1)[0] + f"/{db}"
    key = base64.b64encode(os.urandom(32)).decode()
    receiver = Receiver(os.path.join(work, "received.jsonl"))
    receiver.start()
    a = Scimd(bin_path, db_url, work, {"SCIMD_SECRETS_KEY": key}, "replica-a")
    b = Scimd(bin_path, db_url, work, {"SCIMD_SECRETS_KEY": key}, "replica-b")
    scim_token, admin_token = setup_tenant(a, receiver)
    a.start()
    b.start()
    secret = create_hook(a, admin_token, receiver)
    total = users * 3
    chaos = {int(total * 0.4): "replica b SIGKILL", int(total * 0.6): "receiver down", int(total * 0.7): "receiver up"}

    def progress(i):
        what = chaos.pop(i, None)
        if what == "replica b SIGKILL":
            b.kill9()
            b.start()
        elif what == "receiver down":
            receiver.kill()
        elif what == "receiver up":
            receiver.start()
        if what:
            print(f"postgres: {what} after {i} writes")

    write_load([a, b], scim_token, users, on_progress=progress)
    problems = check("postgres, two replicas", a, admin_token, secret, receiver)
    problems += replica_without_the_key(bin_path, db_url, work)
    problems += rotation_test_send_and_replay(a, b, admin_token, scim_token, receiver, max(10, users // 5))
    a.stop()
    b.stop()
    receiver.kill()
    subprocess.run(["psql", admin_url, "-qc", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"], check=False)
    return problems


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--receiver":
        receiver_main(int(sys.argv[2]), sys.argv[3])
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="the scimd binary")
    parser.add_argument("--postgres", help="a PostgreSQL URL where a database may be created and dropped")
    parser.add_argument("--users", type=int, default=150)
    parser.add_argument("--standardwebhooks", action="store_true",
                        help="also verify every request with the standardwebhooks library (must be installed)")
    args = parser.parse_args()
    if args.standardwebhooks:
        global STANDARD_WEBHOOKS
        from standardwebhooks.webhooks import Webhook
        STANDARD_WEBHOOKS = Webhook
    bin_path = os.path.abspath(args.bin)
    problems = sqlite_phase(bin_path, args.users)
    if args.postgres:
        problems += postgres_phase(bin_path, args.users, args.postgres)
    for p in problems:
        print(f"FAILED: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
