"""Serve scim2-server (PyPI) under waitress, a threaded WSGI server with HTTP/1.1 keep-alive.

This is scim2-server's own `scim2-server` command (scim2_server.testserver.cli:main):
the same flags, the same application (InMemoryStorage, TenantDispatcher, bearer
tokens), only the server differs: the command serves with wsgiref's
ThreadingWSGIServer, which speaks HTTP/1.0 and closes the connection after
every response; waitress keeps connections alive, as the load tool does.

    python bench/peer_server.py --port 18090 --tenant bench [--bearer-token T]
    -> SCIM base URL http://127.0.0.1:18090/bench/v2

PEER_THREADS sets waitress's worker threads (default 8).
"""

import os

import scim2_server.testserver.cli as cli
import waitress


class WaitressServer:
    def __init__(self, host, port, app):
        self.host, self.port, self.app = host, port, app

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def serve_forever(self):
        waitress.serve(
            self.app,
            host=self.host,
            port=self.port,
            threads=int(os.environ.get("PEER_THREADS", "8")),
            connection_limit=1000,
            ident="scim2-server",
        )


def make_server(host, port, app, server_class=None):
    return WaitressServer(host, port, app)


cli.make_server = make_server

if __name__ == "__main__":
    cli.main()
