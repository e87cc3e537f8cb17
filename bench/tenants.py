#!/usr/bin/env python3
"""Scale the way a SaaS vendor grows (issue 21 item 7): the client side of bench/tenants.sh.

    python3 bench/tenants.py make BASE ADMIN_TOKEN TENANTS TOKENS_FILE
    python3 bench/tenants.py probe BASE TOKENS_FILE USERS REQUESTS PID JSON_OUT

`make` creates tenants t00001… and one SCIM token each through the admin API
(one connection, one request at a time) and writes "name token" lines, then
a tenant `w-writes` (no bulk users: its name does not match `t%`) whose
line goes last, for the writes of another tenant.

`probe` measures a running server loaded by bench/load_users.sh (USERS users a
tenant, user i: id printf('%08x-0000-7000-8000-%012x', i, i), userName
bulk-i@bench.example). First one request per tenant (each tenant's token,
configuration and caches come in), with the server's resident memory before
and after (/proc/PID/status VmRSS); then REQUESTS each of GET by id, filter
userName eq and a page of 100 at a random startIndex, each in a random tenant
for a random user, one client, one request at a time; then the same pages
with a user created in `w-writes` before each (untimed: another customer's
identity provider pushing while this one imports), then with a user created
in the page's own tenant before each (its identity provider pushing while it
imports), and RFC 9865 cursor pages
of 100 followed by nextCursor in one tenant. p50 / p99 / max in ms. The two
scenarios with writes run REQUESTS / 50 times (at least 20).
"""
import http.client, json, random, statistics, sys, time, urllib.parse


def connect(base):
    u = urllib.parse.urlparse(base)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=120), u.path.rstrip("/")


def call(conn, method, path, token, body=None, want=(200,)):
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    r = conn.getresponse()
    data = r.read()
    if r.status not in want:
        raise SystemExit(f"tenants.py: {method} {path}: {r.status} {data[:300]!r}")
    return json.loads(data) if data else None


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def make(base, admin_token, tenants, out):
    conn, root = connect(base)
    t0 = time.perf_counter()
    with open(out, "w") as f:
        for n in range(1, tenants + 1):
            name = f"t{n:05d}"
            call(conn, "POST", f"{root}/admin/v1/tenants", admin_token, {"name": name}, want=(201,))
            token = call(conn, "POST", f"{root}/admin/v1/tenants/{name}/tokens", admin_token, {"name": "bench"},
                         want=(201,))["token"]
            f.write(f"{name} {token}\n")
        call(conn, "POST", f"{root}/admin/v1/tenants", admin_token, {"name": "w-writes"}, want=(201,))
        token = call(conn, "POST", f"{root}/admin/v1/tenants/w-writes/tokens", admin_token, {"name": "bench"},
                     want=(201,))["token"]
        f.write(f"w-writes {token}\n")
    print(f"tenants.py: {tenants} tenants with a token each in {time.perf_counter() - t0:.1f} s")


def stats(ms):
    ms = sorted(ms)
    return {"p50_ms": round(statistics.median(ms), 3), "p99_ms": round(ms[max(0, int(len(ms) * 0.99) - 1)], 3),
            "max_ms": round(ms[-1], 3), "requests": len(ms)}


def probe(base, tokens_file, users, requests, pid, out):
    tenants = [line.split() for line in open(tokens_file) if line.strip()]
    writer = tenants.pop()
    written = [0]
    conn, root = connect(base)
    rss_ready = rss_kib(pid)
    t0 = time.perf_counter()
    for name, token in tenants:
        call(conn, "GET", f"{root}/scim/v2/{name}/Users?count=1", token)
    first_touch_s = time.perf_counter() - t0
    rss_touched = rss_kib(pid)
    rng = random.Random(21)

    def user_id(i):
        return f"{i:08x}-0000-7000-8000-{i:012x}"

    def create_in(name, token):
        written[0] += 1
        call(conn, "POST", f"{root}/scim/v2/{name}/Users", token,
             {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
              "userName": f"w{written[0]}-{time.time()}@writes.example"}, want=(201,))

    walk = {"name": None, "next": None}

    def cursor_page():
        if walk["name"] is None:
            walk["name"], walk["token"] = tenants[rng.randrange(len(tenants))]
        name, token = walk["name"], walk["token"]
        cursor = urllib.parse.quote(walk["next"] or "")
        t = time.perf_counter()
        body = call(conn, "GET", f"{root}/scim/v2/{name}/Users?cursor={cursor}&count=100", token)
        ms = (time.perf_counter() - t) * 1000
        walk["next"] = body.get("nextCursor")
        return ms

    def one(kind):
        if kind == "list_page_cursor":
            return cursor_page()
        if kind == "list_page_while_another_tenant_writes":
            create_in(*writer)
            kind = "list_page"
        name, token = tenants[rng.randrange(len(tenants))]
        if kind == "list_page_after_a_create_in_it":
            create_in(name, token)
            kind = "list_page"
        i = rng.randint(1, users)
        if kind == "get_by_id":
            path = f"{root}/scim/v2/{name}/Users/{user_id(i)}"
        elif kind == "filter_username":
            f = urllib.parse.quote(f'userName eq "bulk-{i}@bench.example"')
            path = f"{root}/scim/v2/{name}/Users?filter={f}"
        else:
            start = rng.randint(1, max(1, users - 99))
            path = f"{root}/scim/v2/{name}/Users?startIndex={start}&count=100"
        t = time.perf_counter()
        body = call(conn, "GET", path, token)
        ms = (time.perf_counter() - t) * 1000
        if kind == "filter_username" and body.get("totalResults") != 1:
            raise SystemExit(f"tenants.py: {path}: expected one user, got {body.get('totalResults')}")
        if kind == "list_page" and len(body.get("Resources", [])) != min(100, users):
            raise SystemExit(f"tenants.py: {path}: a short page")
        return ms

    result = {"tenants": len(tenants), "users_per_tenant": users, "rss_ready_kib": rss_ready,
              "rss_after_every_tenant_kib": rss_touched, "first_touch_of_every_tenant_s": round(first_touch_s, 2),
              "per_tenant_kib": round((rss_touched - rss_ready) / len(tenants), 2), "scenarios": {}}
    for kind in ("get_by_id", "filter_username", "list_page", "list_page_while_another_tenant_writes",
                 "list_page_after_a_create_in_it", "list_page_cursor"):
        # A page after a write may be a count of the whole tenant (seconds at 10,000,000 users): fewer.
        writes = kind in ("list_page_while_another_tenant_writes", "list_page_after_a_create_in_it")
        n = max(20, requests // 50) if writes else requests
        for _ in range(2 if writes else min(50, requests)):
            one(kind)
        result["scenarios"][kind] = stats([one(kind) for _ in range(n)])
    result["rss_end_kib"] = rss_kib(pid)
    json.dump(result, open(out, "w"), indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    elif len(sys.argv) == 8 and sys.argv[1] == "probe":
        probe(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7])
    else:
        sys.exit(__doc__)
