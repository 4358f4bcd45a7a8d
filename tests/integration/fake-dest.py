#!/usr/bin/env python3
# fake-dest.py: a loopback stand-in for a sink's destination that answers
# the way real servers go wrong (the sink tests' fake server; python3
# stdlib only). It speaks just enough of Ometria's push API (/v2/push) and
# Infobip's People API (/people/..., /peopleevents/...) to be told apart.
#
#   fake-dest.py MODE [--tls CERT KEY] [--hang SECONDS] [--log FILE]
#                     [--retry-after-date SECONDS]
#
# Modes:
#   ok       answer like the real API: a push counts every record accepted,
#            an upsert has one result per person, events get 202
#   garbage  200 text/html "Welcome to nginx!" to everything (a wrong
#            base_url that reaches some web server's default page)
#   zero     a push is answered {"status":"OK","accepted":0,"rejected":0}
#            and an upsert {"results":[],"errors":[]}: 200, counts that do
#            not add up to what was sent
#   hang     the first POST is held SECONDS (--hang) before its answer, as a
#            destination that stops answering for a while; then like ok
#   busy     the first POST is answered 429 with Retry-After as an HTTP-date
#            (--retry-after-date seconds ahead); then like ok
# --tls serves HTTPS with that certificate and key. Every POST is logged to
# --log as one JSON line {"at": seconds (monotonic), "path", "status",
# "ids": [record ids it carried]}. The port (chosen by the kernel) is printed
# as "listening on 127.0.0.1:PORT". It stops on SIGTERM.
import argparse
import email.utils
import http.server
import json
import ssl
import sys
import threading
import time

NGINX = (b"<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n</head>\n"
         b"<body>\n<h1>Welcome to nginx!</h1>\n</body>\n</html>\n")


def record_ids(path, body):
    """The ids of the records a request carried (empty when unreadable)."""
    try:
        doc = json.loads(body or b"null")
    except ValueError:
        return []
    if isinstance(doc, dict) and isinstance(doc.get("persons"), list):
        return [p.get("externalId") for p in doc["persons"] if isinstance(p, dict)]
    if isinstance(doc, list):
        return [r.get("id", r.get("eventId")) for r in doc if isinstance(r, dict)]
    return []


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-dest/1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body, ctype="application/json", headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.answer(b"")

    def do_DELETE(self):
        self.answer(self.read_body())

    def do_PATCH(self):
        self.answer(self.read_body())

    def do_POST(self):
        self.answer(self.read_body())

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def first_post(self):
        with self.server.lock:
            first = self.server.posts == 0
            self.server.posts += 1
        return first

    def answer(self, body):
        opts = self.server.opts
        mode = opts.mode
        is_write = self.command in ("POST", "PATCH")
        if mode == "hang" and is_write and self.first_post():
            time.sleep(opts.hang)
        elif mode == "busy" and is_write and self.first_post():
            when = email.utils.formatdate(time.time() + opts.retry_after_date, usegmt=True)
            self.log(body, 429)
            self.reply(429, {"errorCode": "E429", "description": "Too many requests sent."},
                       headers=[("Retry-After", when)])
            return
        if mode == "garbage":
            status, answer, ctype = 200, NGINX, "text/html"
        else:
            status, answer = self.api_answer(body, mode == "zero")
            ctype = "application/json"
        if is_write or self.command == "DELETE":
            self.log(body, status)
        self.reply(status, answer, ctype)

    def api_answer(self, body, zero):
        path = self.path.split("?")[0]
        ids = record_ids(path, body)
        if path == "/v2/push":
            accepted = 0 if zero else len(ids)
            return 200, {"status": "OK", "request_id": "fake", "accepted": accepted,
                         "rejected": 0}
        if path == "/people/3/persons/upsert":
            results = [] if zero else [{"id": i + 1, "index": i, "status": "CREATED"}
                                       for i in range(len(ids))]
            return 200, {"results": results, "errors": []}
        if path == "/people/3/events":
            return 202, b""
        if self.command == "GET":
            # infobip-sink's start-up lists, each in its own wrapper
            if path == "/people/2/tags":
                return 200, {"tags": []}
            if path == "/peopleevents/2/definitions":
                return 200, {"definitions": []}
            return 200, {"customAttributes": []}
        return 200, {}

    def log(self, body, status):
        line = {"at": time.monotonic(), "path": self.path, "status": status,
                "ids": record_ids(self.path, body)}
        with self.server.lock:
            if self.server.opts.log:
                with open(self.server.opts.log, "a") as out:
                    out.write(json.dumps(line) + "\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["ok", "garbage", "zero", "hang", "busy"])
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--hang", type=float, default=10.0)
    parser.add_argument("--retry-after-date", type=float, default=3.0)
    parser.add_argument("--log")
    opts = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.opts = opts
    server.lock = threading.Lock()
    server.posts = 0
    if opts.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(opts.tls[0], opts.tls[1])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
