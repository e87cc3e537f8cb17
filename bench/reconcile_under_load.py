#!/usr/bin/env python3
# docs/benchmarks.md, "A policy edit that moves 100,000 users":
#   python3 bench/reconcile_under_load.py PORT SCIM_TOKEN ADMIN_TOKEN   (tenant "bench", users bulk-loaded)
# While a configuration change reconciles N users in the background, send
# SCIM PATCHes one at a time and record their latency; report the reconcile's
# duration and the PATCH latencies during it.
import http.client, json, sys, time, threading
port, token, admin = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def req(method, path, body=None, tok=token):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    h = {"Authorization": f"Bearer {tok}", "Content-Type": "application/json"}
    c.request(method, path, json.dumps(body) if body is not None else None, h)
    r = c.getresponse(); data = r.read(); c.close()
    return r.status, (json.loads(data) if data else None)
A = "/admin/v1/tenants/bench"
st, users = req("GET", "/scim/v2/bench/Users?count=20&attributes=id")
ids = [u["id"] for u in users["Resources"]]
req("POST", A + "/workspaces", {"name": "main"}, admin)
req("POST", A + "/roles", {"name": "Viewer", "rank": 1}, admin)
# Let the reconciles those two started finish before measuring.
while req("GET", A + "/policy", None, admin)[1].get("reconciling"):
    time.sleep(0.2)
lat = []; stop = False
def patcher():
    i = 0
    while not stop:
        t = time.perf_counter()
        s, _ = req("PATCH", f"/scim/v2/bench/Users/{ids[i % len(ids)]}",
                   {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "active", "value": i % 2 == 0}]})
        lat.append((time.perf_counter() - t) * 1000); i += 1
        assert s == 200, s
th = threading.Thread(target=patcher); th.start()
time.sleep(1.0); before = len(lat)
t0 = time.perf_counter()
s, body = req("POST", A + "/licence-types", {"name": "Basic", "default": True}, admin)
answered = time.perf_counter() - t0
while True:
    p = req("GET", A + "/policy", None, admin)[1].get("reconciling")
    if not p: break
    time.sleep(0.1)
total = time.perf_counter() - t0
during = lat[before:]
stop = True; th.join()
during.sort()
q = lambda f: during[min(len(during) - 1, int(f * len(during)))]
print(f"licence type created: answered in {answered*1000:.0f} ms; every user reconciled after {total:.1f} s")
print(f"PATCHes one at a time during it: {len(during)}, p50 {q(0.5):.1f} ms, p99 {q(0.99):.1f} ms, max {during[-1]:.1f} ms")
