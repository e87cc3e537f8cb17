#!/usr/bin/env python3
"""GET of one big group, and a PATCH of one member with the full answer, p50/p99 over N requests.

    python3 bench/big_group.py BASE_URL TOKEN [MEMBERS ...]

BASE_URL is a tenant's SCIM base (http://127.0.0.1:PORT/scim/v2/TENANT) on loopback. For each
size it makes that many users (Bulk, 1,000 at a time), a group holding them, then times
40 GETs of the group and 40 PATCHes adding and removing one member (after 5 of each to warm up),
one client, one connection. Prints one line per size.
"""
import http.client, json, statistics, sys, time, urllib.parse

base, token = sys.argv[1], sys.argv[2]
sizes = [int(s) for s in sys.argv[3:]] or [2000, 10000]
url = urllib.parse.urlparse(base)
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
H = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}

def call(method, path, body=None):
    conn.request(method, url.path + path, body=None if body is None else json.dumps(body), headers=H)
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit(f"{method} {path}: {r.status} {data[:300]!r}")
    return json.loads(data) if data else None

def users(prefix, n):
    ids = []
    for start in range(0, n, 1000):
        ops = [{"method": "POST", "path": "/Users", "bulkId": f"u{i}",
                "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                         "userName": f"{prefix}{i}@big.example", "displayName": f"User {i}"}}
               for i in range(start, min(n, start + 1000))]
        r = call("POST", "/Bulk", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops})
        ids += [o["location"].rsplit("/", 1)[1] for o in r["Operations"]]
    return ids

def timed(f, n=40, warm=5):
    for _ in range(warm):
        f()
    out = []
    for _ in range(n):
        t = time.perf_counter(); f(); out.append((time.perf_counter() - t) * 1000)
    out.sort()
    return statistics.median(out), out[int(len(out) * 0.99) - 1]

for size in sizes:
    ids = users(f"g{size}-{int(time.time())}-", size + 1)
    extra, ids = ids[-1], ids[:-1]
    group = call("POST", "/Groups?excludedAttributes=members", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": f"Big {size} {time.time()}",
        "members": [{"value": i} for i in ids]})["id"]
    g50, g99 = timed(lambda: call("GET", f"/Groups/{group}"))
    flip = [0]
    def patch():
        op = "add" if flip[0] % 2 == 0 else "remove"
        flip[0] += 1
        body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": op, "path": "members", "value": [{"value": extra}]}]}
        call("PATCH", f"/Groups/{group}", body)
    p50, p99 = timed(patch)
    print(f"{size} members: GET p50 {g50:.2f} ms p99 {g99:.2f} ms; PATCH one member, full answer: p50 {p50:.2f} ms p99 {p99:.2f} ms")
