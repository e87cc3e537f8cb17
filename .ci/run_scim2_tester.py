#!/usr/bin/env python3
"""Run the scim2-tester conformance checks (pinned 0.5.2) against a live SCIM server.

Usage (normally through .ci/checkers.sh, inside its virtualenv):

    python .ci/run_scim2_tester.py BASE_URL TOKEN [--allow 'GLOB # RFC 7644 §x.y ...']...
        [--include-tags crud,patch] [--exclude-tags misc] [--resource-types User,Group]
        [--summary-file FILE] [--trace FILE]

scim2-tester API (0.5.2), as read from its source:
  * the client is ``scim2_client.engines.httpx2.SyncSCIMClient(httpx2.Client(base_url=..., headers=...))``
    (extra ``scim2-tester[httpx2]``); no ``discover()`` call is needed: ``check_server`` itself
    queries /ServiceProviderConfig, /ResourceTypes and /Schemas and builds the models from them;
  * ``check_server(client, include_tags=None, exclude_tags=None, resource_types=None)``
    returns ``list[CheckResult]`` (status, title, description, reason, data, tags, resource_type);
  * ``Status``: SUCCESS, COMPLIANT, ACCEPTABLE (pass), DEVIATION (SHOULD-level, reported as
    warning), ERROR, CRITICAL (fail), SKIPPED.

Every failing result is identified as ``scim2-tester/<ResourceType or ->/<check>: <reason>``;
an ``--allow`` glob (fnmatch, case-sensitive) matching that string turns the failure into an
"allowed known checker bug".  Each --allow value must be ``GLOB # <RFC reference>``.

Exit code: 0 when no unallowed failure, 1 otherwise, 2 on a crash of the runner itself.
"""

import argparse
import fnmatch
import json
import sys
import time
import traceback

PASS_STATUSES = {"SUCCESS", "COMPLIANT", "ACCEPTABLE"}
WARN_STATUSES = {"DEVIATION"}
FAIL_STATUSES = {"ERROR", "CRITICAL"}
SKIP_STATUSES = {"SKIPPED"}


def _csv(value):
    return {v.strip() for v in value.split(",") if v.strip()} if value else None


def _parse_allow(entries):
    allow = []
    for entry in entries:
        if not entry.strip():
            continue
        glob, sep, comment = entry.partition("#")
        if not sep or "RFC" not in comment.upper():
            raise SystemExit(
                f"run_scim2_tester: allow-list entry {entry!r} must be 'GLOB # RFC 764x §N ...'"
            )
        allow.append((glob.strip(), comment.strip()))
    return allow


def _short(value, limit=700):
    try:
        if hasattr(value, "model_dump"):
            value = value.model_dump(exclude_none=True)
        if hasattr(value, "status_code") and hasattr(value, "text"):
            value = f"HTTP {value.status_code} {value.text}"
        text = value if isinstance(value, str) else json.dumps(value, default=str)
    except Exception:  # pragma: no cover - best effort display only
        text = repr(value)
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + " …"


class _Tracer:
    """Write every HTTP exchange (request line, headers, bodies) to a file."""

    def __init__(self, path):
        self.fh = open(path, "w", encoding="utf-8")

    def request(self, request):
        body = request.content.decode("utf-8", "replace") if request.content else ""
        headers = {k: ("***" if k.lower() == "authorization" else v) for k, v in request.headers.items()}
        self.fh.write(f">>> {request.method} {request.url}\n>>> {headers}\n")
        if body:
            self.fh.write(f">>> {body}\n")

    def response(self, response):
        response.read()
        self.fh.write(f"<<< {response.status_code} {dict(response.headers)}\n")
        if response.text:
            self.fh.write(f"<<< {response.text}\n")
        self.fh.write("\n")
        self.fh.flush()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("base_url")
    p.add_argument("token")
    p.add_argument("--allow", action="append", default=[], help="'GLOB # RFC ref' (repeatable)")
    p.add_argument("--include-tags", default=None, help="comma list, e.g. discovery,crud,patch,misc")
    p.add_argument("--exclude-tags", default=None, help="comma list")
    p.add_argument("--resource-types", default=None, help="comma list, e.g. User,Group")
    p.add_argument("--summary-file", default=None, help="write JSON counts + failures here")
    p.add_argument("--trace", default=None, help="write every HTTP exchange here")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--verbose", action="store_true", help="print every result, not only failures")
    args = p.parse_args()

    allow = _parse_allow(args.allow)

    import importlib.metadata

    import httpx2
    from scim2_client.engines.httpx2 import SyncSCIMClient
    from scim2_tester import check_server

    hooks = {}
    if args.trace:
        tracer = _Tracer(args.trace)
        hooks = {"request": [tracer.request], "response": [tracer.response]}

    http = httpx2.Client(
        # httpx joins "/Users" onto the base path only if it ends with "/".
        base_url=args.base_url.rstrip("/") + "/",
        headers={"Authorization": f"Bearer {args.token}"},
        timeout=args.timeout,
        trust_env=False,  # never route loopback traffic through an env proxy
        event_hooks=hooks,
    )
    client = SyncSCIMClient(http)

    started = time.monotonic()
    try:
        results = check_server(
            client,
            include_tags=_csv(args.include_tags),
            exclude_tags=_csv(args.exclude_tags),
            resource_types=sorted(_csv(args.resource_types)) if args.resource_types else None,
        )
    except Exception:
        traceback.print_exc()
        print("scim2-tester: runner crashed (see traceback above)")
        return 2
    elapsed = time.monotonic() - started

    counts = {"passed": 0, "failed": 0, "skipped": 0, "warnings": 0, "allowed": 0}
    failures, allowed_hits, warnings = [], [], []
    used_allow = set()
    for r in results:
        status = r.status.name
        ident = f"scim2-tester/{r.resource_type or '-'}/{r.title}: {r.reason or ''}"
        line = f"  [{status}] {r.resource_type or '-'} {r.title}: {r.reason or ''}"
        if args.verbose:
            print(line.rstrip())
        if status in PASS_STATUSES:
            counts["passed"] += 1
        elif status in SKIP_STATUSES:
            counts["skipped"] += 1
        elif status in WARN_STATUSES:
            counts["warnings"] += 1
            warnings.append(line)
        else:  # ERROR, CRITICAL and anything unknown count as failures
            match = next((a for a in allow if fnmatch.fnmatchcase(ident, a[0])), None)
            entry = {
                "check": r.title,
                "resource_type": r.resource_type,
                "status": status,
                "reason": r.reason,
                "data": _short(r.data) if r.data is not None else None,
            }
            if match:
                used_allow.add(match[0])
                counts["allowed"] += 1
                allowed_hits.append((line, match[1]))
            else:
                counts["failed"] += 1
                failures.append(entry)

    # A run in which no resource type was exercised proves nothing: make it fail.
    ran_resource_checks = any(r.resource_type for r in results)
    if not ran_resource_checks and not args.include_tags and counts["failed"] == 0:
        counts["failed"] += 1
        failures.append({
            "check": "runner", "resource_type": None, "status": "ERROR",
            "reason": "no resource-type check ran (discovery published no usable ResourceType/Schema?)",
            "data": None,
        })

    print(f"scim2-tester {importlib.metadata.version('scim2-tester')} against {args.base_url} "
          f"({len(results)} results in {elapsed:.1f}s)")
    for w in warnings:
        print(f"WARNING{w}")
    for line, why in allowed_hits:
        print(f"ALLOWED (known checker bug: {why}){line}")
    for f in failures:
        print(f"FAIL  scim2-tester/{f['resource_type'] or '-'}/{f['check']} [{f['status']}]: {f['reason']}")
        if f["data"]:
            print(f"      data: {f['data']}")
    for glob, why in allow:
        if glob not in used_allow and not glob.startswith("scim-sanity"):
            print(f"note: allow-list entry matched nothing (stale?): {glob}  # {why}")
    print(f"scim2-tester: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
          f" ({counts['allowed']} allowed, {counts['warnings']} warnings)")

    if args.summary_file:
        with open(args.summary_file, "w", encoding="utf-8") as fh:
            json.dump({"checker": "scim2-tester", **counts, "failures": failures}, fh, indent=1, default=str)

    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
