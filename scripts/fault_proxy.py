#!/usr/bin/env python3
"""A reverse proxy in front of a real cache server that misbehaves on demand,
for the remote fault tests.

    fault_proxy.py PORT UPSTREAM_URL MODE_FILE

MODE_FILE holds one word, read on every request, so a test can change the
behaviour while a build runs:
    pass       forward as is
    error500   answer every request with 500
    hang       accept the request, then send nothing for an hour
    truncate   forward GETs with the body cut to half (the length header stays)
    corrupt    forward GETs with one byte of the body flipped
    garbage    answer GETs with 200 and bytes that are no cache entry
    reset      close the connection without an answer
Listens on 127.0.0.1 only.
"""
import http.client
import http.server
import socketserver
import sys
import time
import urllib.parse

PORT = int(sys.argv[1])
UPSTREAM = urllib.parse.urlsplit(sys.argv[2])
MODE_FILE = sys.argv[3]


def mode():
    try:
        with open(MODE_FILE) as f:
            return f.read().strip() or "pass"
    except OSError:
        return "pass"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (mode(), fmt % args))

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        current = mode()
        if current == "reset":
            self.close_connection = True
            self.connection.close()
            return
        if current == "hang":
            time.sleep(3600)
            return
        if current == "error500":
            self.reply(500, b"injected failure\n")
            return
        if current == "garbage" and self.command == "GET":
            self.reply(200, b"\x00not a cache entry\xff" * 100)
            return
        upstream = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        upstream.request(self.command, UPSTREAM.path + self.path, body=body, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        upstream.close()
        if self.command == "GET" and response.status == 200 and data:
            if current == "truncate":
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            if current == "corrupt":
                middle = len(data) // 2
                data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]
        self.reply(response.status, data)

    def reply(self, status, data):
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_HEAD = do_DELETE = forward


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    Server(("127.0.0.1", PORT), Handler).serve_forever()
