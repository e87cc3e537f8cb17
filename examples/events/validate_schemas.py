#!/usr/bin/env python3
"""The events scimd emits, checked against their JSON Schemas (docs/events/), run by .ci/run.

    python3 examples/events/validate_schemas.py --bin target/debug/scimd [--postgres URL] [--dump FILE]

Needs the `jsonschema` package (.ci/run installs jsonschema==4.26.0 in a virtualenv).

For SQLite, and with --postgres on a database it creates and drops there: a fresh scimd on a
free loopback port, a tenant and tokens made with the CLI, a webhook to a receiver in this
process; then a flow over SCIM and the admin API that makes every event type appear (users
created, updated, deactivated, reactivated, deleted softly and for good, restored; a group
created, renamed, deleted, members added and removed; roles from the default, a mapped group and
an admin's grant; licences assigned, released and waited for under a seat limit; host actions;
refusals for a domain, for seats and for a switched-off tenant; a document too large to copy; an
admin's user and an import). Then every event of the feed is validated against the schema of its
type, with the cross-field facts a schema cannot say (data names the subject; meta.lastModified
is the timestamp), and every webhook delivery must be the feed's envelope, byte-parsed without
a repeated key. The examples in docs/events.md are validated as well. Fails when an event or
an example does not match, when a type has no schema or no example, when a documented type
never appeared, or when the server knows a type the documents do not.
--dump FILE writes the SQLite run's feed there (a JSON array), to take new examples from.
"""

import argparse
import base64
import importlib.metadata
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012
except ImportError:
    sys.exit("validate_schemas.py needs jsonschema: python3 -m pip install jsonschema==4.26.0")

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMAS = os.path.join(HERE, "..", "..", "docs", "events")
TENANT = "events"
# A test send's type: in no feed, so kept apart from the feed's types.
TEST_TYPE = "webhook.test"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def load_schemas(folder):
    """{type: validator} for every <type>.schema.json, resolving refs by file name."""
    resources, names = [], []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".schema.json"):
            with open(os.path.join(folder, name)) as f:
                contents = json.load(f)
            jsonschema.Draft202012Validator.check_schema(contents)
            resources.append((name, Resource.from_contents(contents, default_specification=DRAFT202012)))
            names.append(name)
    registry = Registry().with_resources(resources)
    validators = {}
    for name in names:
        if name == "envelope.schema.json":
            continue
        schema = registry.contents(name)
        validators[name.removesuffix(".schema.json")] = jsonschema.Draft202012Validator(schema, registry=registry)
    listed = set(registry.contents("envelope.schema.json")["$defs"]["eventType"]["enum"])
    if listed != set(validators) - {TEST_TYPE}:
        sys.exit(f"envelope.schema.json lists {sorted(listed ^ set(validators))} unlike the <type>.schema.json files")
    if TEST_TYPE not in validators:
        sys.exit(f"docs/events/ has no schema of {TEST_TYPE}")
    return validators


def no_repeated_keys(pairs):
    keys = [k for k, _ in pairs]
    repeated = {k for k in keys if keys.count(k) > 1}
    if repeated:
        raise ValueError(f"key named twice: {sorted(repeated)}")
    return dict(pairs)


class Receiver:
    """A product's webhook endpoint: keeps every request's body as it came."""

    def __init__(self):
        self.port = free_port()
        self.bodies = []
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with lock:
                    outer.bodies.append((self.headers.get("webhook-id"), body))
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Scimd:
    def __init__(self, bin_path, db_url, work):
        self.bin, self.work, self.port = bin_path, work, free_port()
        key = base64.b64encode(os.urandom(32)).decode()
        self.env = dict(os.environ, SCIMD_DATABASE_URL=db_url, SCIMD_SECRETS_KEY=key)
        self.proc = None

    def cli(self, *args):
        out = subprocess.run([self.bin, *args], env=self.env, cwd=self.work, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"scimd {' '.join(args)}: {out.stderr}")
        return out.stdout.strip()

    def start(self):
        self.log = open(os.path.join(self.work, "scimd.log"), "a")
        self.proc = subprocess.Popen(
            [self.bin, "serve", "--listen", f"127.0.0.1:{self.port}", "--no-bootstrap",
             "--webhook-allow-private-targets"],
            env=self.env, cwd=self.work, stdout=self.log, stderr=self.log,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise SystemExit(f"scimd did not start: see {self.log.name}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def call(self, method, path, token, body=None, content_type="application/scim+json", raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                text = resp.read().decode()
                return resp.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            return e.code, (json.loads(text) if text else None)


class Flow:
    """The writes that make every event type appear, each answer checked."""

    def __init__(self, server, scim_token, admin_token):
        self.s, self.scim_token, self.admin_token = server, scim_token, admin_token

    def scim(self, method, path, body=None, want=(200,)):
        status, answer = self.s.call(method, f"/scim/v2/{TENANT}{path}", self.scim_token, body)
        if status not in want:
            raise SystemExit(f"SCIM {method} {path}: {status} (wanted {want}): {answer}")
        return answer

    def admin(self, method, path, body=None, want=(200,), **kw):
        status, answer = self.s.call(method, f"/admin/v1/tenants/{TENANT}{path}", self.admin_token, body,
                                     "application/json", **kw)
        if status not in want:
            raise SystemExit(f"admin {method} {path}: {status} (wanted {want}): {answer}")
        return answer

    def patch(self, kind, rid, *ops):
        return self.scim("PATCH", f"/{kind}/{rid}", {"schemas": [PATCH], "Operations": list(ops)})

    def tenant_switched(self, on):
        self.admin("PATCH", "", {"scim_enabled": on})
        # The process that switched it forgets its cached tenant at once; wait a little anyway.
        deadline = time.time() + 5
        while time.time() < deadline:
            status, _ = self.s.call("GET", f"/scim/v2/{TENANT}/Users?count=1", self.scim_token)
            if (status == 200) == on:
                return
            time.sleep(0.2)
        raise SystemExit(f"the tenant's scim_enabled did not become {on}")

    def run(self, receiver_port):
        a = self.admin
        a("POST", "/workspaces", {"name": "app", "lifecycle": {"host_actions": {
            "on_create": ["send_welcome"], "on_deactivate": ["unassign_devices"]}}}, want=(201,))
        a("POST", "/roles", {"name": "member", "rank": 1}, want=(201,))
        a("POST", "/roles", {"name": "admin", "rank": 5}, want=(201,))
        a("POST", "/licence-types", {"name": "Standard", "seat_limit": None, "default": True}, want=(201,))
        a("POST", "/licence-types", {"name": "Pro", "seat_limit": 1}, want=(201,))
        a("PUT", "/policy", {"on_create": "grant_default", "default_role": "member", "default_workspace": "app",
                             "on_deactivate": "suspend", "on_delete": "soft", "allowed_domains": ["events.test"],
                             "seats_exhausted": "create_unlicensed"})
        a("POST", "/group-mappings", {"group": "Engineering", "workspace": "app", "role": "admin",
                                      "licence_type": "Pro"}, want=(201,))
        hook = a("POST", "/webhooks", {"url": f"http://127.0.0.1:{receiver_port}/hook"}, want=(201,))
        # A test send: the receiver answers it, and check() validates its body against webhook.test's schema.
        sent = a("POST", f"/webhooks/{hook['id']}/test", {})
        if not sent.get("delivered"):
            raise SystemExit(f"the test send was not delivered: {sent}")

        # user.created (host action send_welcome), access.role_granted (default), licence.assigned (default).
        # Every attribute kind, a password (never stored) and an attribute scimd does not know (dropped).
        ada = self.scim("POST", "/Users", {
            "schemas": [USER, ENTERPRISE], "userName": "ada@events.test", "externalId": "okta-ada",
            "name": {"givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada Lovelace"},
            "displayName": "Ada Lovelace", "nickName": "ada", "title": "Engineer", "userType": "Employee",
            "preferredLanguage": "en-GB", "locale": "en-GB", "timezone": "Europe/London", "active": True,
            "profileUrl": "https://example.test/ada",
            "emails": [{"value": "ada@events.test", "type": "work", "primary": True}],
            "phoneNumbers": [{"value": "+44 20 7946 0000", "type": "work"}],
            "ims": [{"value": "ada", "type": "xmpp"}], "photos": [{"value": "https://example.test/ada.png"}],
            "addresses": [{"streetAddress": "1 Way", "locality": "London", "country": "GB", "type": "work"}],
            "entitlements": [{"value": "e1"}], "roles": [{"value": "r1"}],
            "x509Certificates": [{"value": "TUlJ"}],
            ENTERPRISE: {"employeeNumber": "7", "department": "R&D", "costCenter": "C1", "organization": "Events",
                         "division": "D"},
            "password": "not stored", "favouriteColour": "green",
        }, want=(201,))["id"]
        bob = self.scim("POST", "/Users", {"schemas": [USER], "userName": "bob@events.test", "active": True,
                                           ENTERPRISE: {"manager": {"value": ada}}}, want=(201,))["id"]
        # group.created, group.member_added x2; the mapping moves both: access.role_revoked (default) and
        # access.role_granted (group); ada gets the one Pro seat (licence.released, licence.assigned),
        # bob waits for it (licence.waiting).
        group = self.scim("POST", "/Groups", {"schemas": [GROUP], "displayName": "Engineering", "externalId": "g1",
                                              "members": [{"value": ada}, {"value": bob}]}, want=(201,))["id"]
        # user.updated, with previous.
        self.patch("Users", ada, {"op": "replace", "path": "title", "value": "Analyst"})
        # group.updated, with previous (the mapping is bound to the group's id and stays).
        self.patch("Groups", group, {"op": "replace", "value": {"displayName": "Engineering (all)"}})
        # user.deactivated (host action unassign_devices), access.role_revoked, licence.released;
        # the freed Pro seat goes to bob, who waited (licence.assigned).
        self.patch("Users", ada, {"op": "replace", "path": "active", "value": False})
        # user.reactivated, access.role_granted, licence.waiting (bob holds the Pro seat now).
        self.patch("Users", ada, {"op": "replace", "path": "active", "value": True})
        # group.member_removed, and bob's group role and seat go.
        self.patch("Groups", group, {"op": "remove", "path": f'members[value eq "{bob}"]'})
        # user.deleted (restorable: true), then user.restored by an admin.
        self.scim("DELETE", f"/Users/{ada}", want=(204,))
        a("POST", f"/users/{ada}/restore")
        # access.role_granted from an admin (source manual).
        a("POST", f"/users/{bob}/roles", {"workspace": "app", "role": "admin"}, want=(204,))

        # provisioning.refused: a domain outside allowed_domains (403)...
        self.scim("POST", "/Users", {"schemas": [USER], "userName": "eve@elsewhere.test"}, want=(403,))
        # ... no seat left for a user being created (409) ...
        a("PUT", "/policy", {"seats_exhausted": "reject"})
        used = next(t["used"] for t in a("GET", "/licence-types") if t["name"] == "Standard")
        a("PATCH", "/licence-types/Standard", {"seat_limit": used})
        self.scim("POST", "/Users", {"schemas": [USER], "userName": "carl@events.test"}, want=(409,))
        a("PATCH", "/licence-types/Standard", {"seat_limit": None})
        # ... and SCIM switched off for the tenant (403), about a user by id and about a group.
        self.tenant_switched(False)
        self.scim("GET", f"/Users/{bob}", want=(403,))
        self.scim("POST", "/Groups", {"schemas": [GROUP], "displayName": "Nope"}, want=(403,))
        self.tenant_switched(True)

        # A document over 16 KiB is named, not copied (truncated), in create, update and delete.
        big = self.scim("POST", "/Users", {"schemas": [USER], "userName": "big@events.test",
                                           "title": "x" * 17000}, want=(201,))["id"]
        self.patch("Users", big, {"op": "replace", "path": "active", "value": False})
        a("PUT", "/policy", {"on_delete": "hard"})
        # user.deleted (restorable: false), group.deleted (its members leave without events).
        self.scim("DELETE", f"/Users/{big}", want=(204,))
        self.scim("DELETE", f"/Groups/{group}", want=(204,))
        # An admin's user (actor admin) and an import (actor admin "import").
        hand = a("POST", "/users", {"userName": "hand@events.test", "displayName": "Hand Made"}, want=(201,))["id"]
        # The identity provider takes the admin's user over, repeating its attributes: user.updated
        # without previous (who manages the user changed; data does not show it).
        self.patch("Users", hand, {"op": "replace", "path": "displayName", "value": "Hand Made"})
        row = json.dumps({"schemas": [USER], "userName": "imported@events.test", "displayName": "Imported"})
        summary = a("POST", "/import", want=(200,), raw=(row + "\n").encode())
        if summary.get("created") != 1:
            raise SystemExit(f"the import did not create its user: {summary}")


def feed(server, token):
    events, after = [], ""
    while True:
        status, page = server.call("GET", f"/admin/v1/tenants/{TENANT}/events?limit=1000&after={after}", token)
        if status != 200:
            raise SystemExit(f"the feed answered {status}: {page}")
        if not page["data"]:
            return events
        events.extend(page["data"])
        after = page["next"]


def server_types(server, token):
    """The types the server knows, as its refusal of an unknown type prefix lists them."""
    status, answer = server.call("GET", f"/admin/v1/tenants/{TENANT}/events?type=no-such-type.", token)
    detail = (answer or {}).get("error", {}).get("detail", "")
    m = re.search(r"the types are (.*)$", detail)
    if status != 400 or not m:
        raise SystemExit(f"the feed's answer to an unknown type no longer lists the types: {status} {answer}")
    return {t.strip() for t in m.group(1).split(",")}


def cross_checks(e):
    """What one event's schema cannot say: fields that must agree with each other."""
    t, data, subject = e["type"], e["data"], e["subject"]
    out = []
    if t.startswith(("user.", "group.")) and "member" not in t:
        if data.get("id") != subject["id"]:
            out.append("data.id is not subject.id")
        if data.get("meta", {}).get("lastModified") != e["timestamp"]:
            out.append("data.meta.lastModified is not the timestamp")
    elif t.startswith("group.member"):
        if data["group"]["id"] != subject["id"]:
            out.append("data.group.id is not subject.id")
    elif t.startswith(("access.", "licence.")):
        if data["user"]["id"] != subject["id"]:
            out.append("data.user.id is not subject.id")
    return out


def check(name, events, validators, known, receiver, wait=90):
    problems, counts = [], {}
    for e in events:
        t = e.get("type")
        counts[t] = counts.get(t, 0) + 1
        v = validators.get(t)
        if v is None:
            problems.append(f"{e.get('id')}: type {t!r} has no schema under docs/events/")
            continue
        errors = sorted(v.iter_errors(e), key=lambda err: list(err.absolute_path))
        for err in errors[:5]:
            path = "/".join(str(p) for p in err.absolute_path) or "(envelope)"
            problems.append(f"{e['id']} ({t}): {path}: {err.message[:300]}")
        problems += [f"{e['id']} ({t}): {p}" for p in cross_checks(e)]
    feed_types = set(validators) - {TEST_TYPE}
    for t in sorted(feed_types - set(counts)):
        problems.append(f"documented type {t} never appeared in the flow")
    for t in sorted(known ^ feed_types):
        side = "the server emits" if t in known else "docs/events/ has"
        problems.append(f"{side} type {t} that the other does not know")
    # Webhooks: every event delivered, each body the feed's envelope, no key named twice.
    by_id = {e["id"]: e for e in events}
    deadline = time.time() + wait
    while time.time() < deadline and not set(by_id) <= {i for i, _ in receiver.bodies}:
        time.sleep(0.2)
    delivered = {}
    for hook_id, body in list(receiver.bodies):
        try:
            delivered[hook_id] = json.loads(body, object_pairs_hook=no_repeated_keys)
        except ValueError as err:
            problems.append(f"webhook {hook_id}: the body is not plain JSON: {err}")
    missing = set(by_id) - set(delivered)
    if missing:
        problems.append(f"{len(missing)} of {len(by_id)} events never reached the webhook receiver")
    # The test send the flow made last: its body against its own schema.
    tests = [body for body in delivered.values() if body.get("type") == TEST_TYPE]
    if not tests:
        problems.append(f"the receiver got no {TEST_TYPE} event")
    for body in tests:
        for err in validators[TEST_TYPE].iter_errors(body):
            where = "/".join(str(p) for p in err.absolute_path) or "(envelope)"
            problems.append(f"{body.get('id')} ({TEST_TYPE}): {where}: {err.message[:300]}")
        if body.get("id") in by_id:
            problems.append(f"{TEST_TYPE} {body['id']} is in the feed")
    unlike = [i for i, body in delivered.items() if i in by_id and body != by_id[i]]
    if unlike:
        problems.append(f"{len(unlike)} webhook bodies differ from the feed's envelope (first: {unlike[0]})")
    shown = ", ".join(f"{t} {n}" for t, n in sorted(counts.items()))
    print(f"{name}: {len(events)} events of {len(counts)} types validated, {len(delivered)} webhook bodies "
          f"compared; {len(problems)} problems\n  {shown}")
    return problems


def doc_examples(path, validators):
    """docs/events.md's examples, each completed into an envelope where it shows a part, validated too."""
    with open(path) as f:
        text = f.read()
    base = {"id": "evt_" + "0" * 32, "timestamp": None, "tenant": "acme",
            "cause": {"request_id": None, "actor": {"type": "system"}}}
    problems, seen, decoder = [], [], json.JSONDecoder()
    for block in re.findall(r"```json\n(.*?)```", text, re.S):
        at = 0
        while block[at:].strip():
            at += len(block[at:]) - len(block[at:].lstrip())
            example, at = decoder.raw_decode(block, at)
            if "type" not in example or example["type"] not in validators:
                continue
            event = {**base, **example}
            if event["timestamp"] is None:
                meta = event.get("data", {}).get("meta", {})
                event["timestamp"] = meta.get("lastModified", "2026-01-01T00:00:00.000Z")
            seen.append(event["type"])
            for err in validators[event["type"]].iter_errors(event):
                where = "/".join(str(p) for p in err.absolute_path) or "(envelope)"
                problems.append(f"docs/events.md example of {event['type']}: {where}: {err.message[:200]}")
    for t in sorted(set(validators) - set(seen)):
        problems.append(f"docs/events.md shows no example of {t}")
    print(f"docs/events.md: {len(seen)} examples validated, {len(problems)} problems")
    return problems


def run(name, bin_path, db_url, validators, dump=None):
    started = time.time()
    work = tempfile.mkdtemp(prefix=f"scimd-events-{name}-")
    server = Scimd(bin_path, db_url, work)
    server.cli("tenant", "create", TENANT)
    scim_token = server.cli("token", "create", "--tenant", TENANT, "--name", "okta")
    admin_token = server.cli("admin-token", "create", "--name", "events-check")
    receiver = Receiver()
    server.start()
    try:
        Flow(server, scim_token, admin_token).run(receiver.port)
        events = feed(server, admin_token)
        known = server_types(server, admin_token)
        if dump:
            with open(dump, "w") as f:
                json.dump(events, f, indent=1)
        problems = check(name, events, validators, known, receiver)
    finally:
        server.stop()
        receiver.stop()
    print(f"{name}: {time.time() - started:.1f} s")
    if problems:
        print(f"{name}: the server's log is kept in {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return [f"{name}: {p}" for p in problems]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="the scimd binary")
    parser.add_argument("--postgres", help="a PostgreSQL URL where a database may be created and dropped")
    parser.add_argument("--schemas", default=SCHEMAS, help="the folder of <type>.schema.json (docs/events)")
    parser.add_argument("--dump", help="write the SQLite run's feed (a JSON array) to this file")
    args = parser.parse_args()
    bin_path = os.path.abspath(args.bin)
    validators = load_schemas(args.schemas)
    print(f"jsonschema {importlib.metadata.version('jsonschema')}: "
          f"{len(validators)} event types documented in {os.path.relpath(args.schemas)}")
    problems = doc_examples(os.path.join(args.schemas, "..", "events.md"), validators)
    db_dir = tempfile.mkdtemp(prefix="scimd-events-db-")
    try:
        problems += run("sqlite", bin_path, f"sqlite://{db_dir}/events.db", validators, args.dump)
    finally:
        shutil.rmtree(db_dir, ignore_errors=True)
    if args.postgres:
        db = f"scimd_events_{os.getpid()}"
        psql = ["psql", args.postgres, "-qX", "-v", "ON_ERROR_STOP=1"]
        quiet = dict(os.environ, PGOPTIONS="--client-min-messages=warning")
        subprocess.run(psql + ["-c", f"DROP DATABASE IF EXISTS {db}", "-c", f"CREATE DATABASE {db}"],
                       check=True, env=quiet)
        try:
            problems += run("postgres", bin_path, args.postgres.rsplit("/", 1)[0] + f"/{db}", validators)
        finally:
            subprocess.run(psql + ["-c", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"], check=False, env=quiet)
    for p in problems:
        print(f"FAILED: {p}", file=sys.stderr)
    print("events: every emitted event matches its schema" if not problems else f"events: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
