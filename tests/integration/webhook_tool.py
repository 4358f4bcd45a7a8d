#!/usr/bin/env python3
# webhook_tool.py: a client of annexcloud-source's webhook listener for the
# integration tests (python3 stdlib only): signed posts, requests cut in
# the middle, a slowloris attacker and a steady genuine sender.
#
#   post URL [--secret S] [--basic USER:PASS] [--scheme Basic] BODY
#       one POST; prints "STATUS SECONDS ANSWER" (BODY = @FILE: that file)
#   post-each URL FILE [--secret S] [--basic USER:PASS]
#       one POST per line of FILE, in order, from this one process; a line
#       per answer as `post` prints; exit 1 at the first answer not 2xx
#   headers-only URL CONTENT_LENGTH [--secret S] [--basic USER:PASS]
#       sends the headers of a POST whose body never comes and prints the
#       status answered without it ("none" if nothing came within --timeout)
#   split URL GO_FILE [--secret S] [--basic U:P] BODY
#       sends the headers and half the body, prints "sent-half", waits for
#       GO_FILE to exist, sends the rest; prints "STATUS" or "error: WHY"
#   slowloris HOST PORT --connections N --seconds S --sources K [--stop-file F]
#       holds N connections from 127.0.0.2..127.0.0.(K+1), each sending one
#       header line a second and never finishing; reopens what the server
#       closes; stops after S seconds or once F exists; prints a JSON summary
#   hog HOST PORT --connections N --length L --send B [--seconds S] [--sources K]
#       N connections (from K addresses 127.0.0.2..) with a well-formed
#       (wrong) signature header declare a
#       body of L bytes, send B of them and wait up to S seconds for an
#       answer; prints how many got which status ("none": no answer)
#   genuine URL --rate R --seconds S --secret S [--basic U:P] --prefix P
#       R signed webhooks a second for S seconds, each on a new connection;
#       prints a JSON summary with every status and latency
import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import selectors
import socket
import sys
import threading
import time
import urllib.parse


def signature(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def auth_headers(args, body):
    headers = {"Content-Type": "application/json"}
    if args.secret:
        headers["X-AnnexCloud-Signature"] = signature(args.secret, body)
    if args.basic:
        token = base64.b64encode(args.basic.encode("latin-1")).decode()
        headers["Authorization"] = "%s %s" % (args.scheme, token)
    return headers


def parse_url(url):
    parts = urllib.parse.urlsplit(url)
    return parts.hostname, parts.port or 80, parts.path or "/"


def raw_request_head(path, host, headers, length):
    lines = ["POST %s HTTP/1.1" % path, "Host: %s" % host, "Content-Length: %d" % length]
    lines += ["%s: %s" % (k, v) for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_status(sock, timeout):
    """The status code of the answer on sock, or None."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionError):
        pass
    line = data.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) >= 2 and line[1].isdigit() else None


def body_of(text):
    """A body argument: the text itself, or the contents of FILE for @FILE."""
    if text.startswith("@"):
        with open(text[1:], "rb") as f:
            return f.read()
    return text.encode()


def cmd_post(args):
    body = body_of(args.body)
    host, port, path = parse_url(args.url)
    start = time.monotonic()
    conn = http.client.HTTPConnection(host, port, timeout=args.timeout)
    try:
        conn.request("POST", path, body=body, headers=auth_headers(args, body))
        answer = conn.getresponse()
        text = answer.read().decode(errors="replace")
        print("%d %.3f %s" % (answer.status, time.monotonic() - start, text))
    except (OSError, http.client.HTTPException) as error:
        print("000 %.3f %s" % (time.monotonic() - start, type(error).__name__))
    finally:
        conn.close()


def cmd_post_each(args):
    """POST each line of args.file as one signed webhook, in order, one
    request at a time (one process for many webhooks: a python start per
    webhook takes seconds on a loaded machine). Prints one line per
    webhook as `post` does; exits 1 after the first answer that is not
    2xx (the rest are not sent)."""
    host, port, path = parse_url(args.url)
    with open(args.file, "rb") as f:
        bodies = [line.rstrip(b"\n") for line in f if line.strip()]
    for body in bodies:
        start = time.monotonic()
        conn = http.client.HTTPConnection(host, port, timeout=args.timeout)
        try:
            conn.request("POST", path, body=body, headers=auth_headers(args, body))
            answer = conn.getresponse()
            text = answer.read().decode(errors="replace")
            status = answer.status
        except (OSError, http.client.HTTPException) as error:
            status, text = 0, type(error).__name__
        finally:
            conn.close()
        print("%03d %.3f %s" % (status, time.monotonic() - start, text), flush=True)
        if not 200 <= status < 300:
            sys.exit(1)


def cmd_headers_only(args):
    host, port, path = parse_url(args.url)
    sock = socket.create_connection((host, port), timeout=args.timeout)
    sock.sendall(raw_request_head(path, host, auth_headers(args, b"{}"), args.length))
    status = read_status(sock, args.timeout)
    sock.close()
    print(status if status is not None else "none")


def cmd_split(args):
    body = body_of(args.body)
    host, port, path = parse_url(args.url)
    sock = socket.create_connection((host, port), timeout=args.timeout)
    half = len(body) // 2
    sock.sendall(raw_request_head(path, host, auth_headers(args, body), len(body)) + body[:half])
    print("sent-half", flush=True)
    deadline = time.monotonic() + args.timeout
    while not os.path.exists(args.go_file):
        if time.monotonic() > deadline:
            print("error: no go file")
            return
        time.sleep(0.05)
    try:
        sock.sendall(body[half:])
    except OSError as error:
        print("error: %s" % error)
        return
    status = read_status(sock, args.timeout)
    print(status if status is not None else "error: no answer (connection reset or closed)")


def cmd_slowloris(args):
    """Hold `connections` connections that never finish their headers."""
    selector = selectors.DefaultSelector()
    socks = {}
    opened = closed_by_server = failed = 0
    peak = 0
    source = [0]

    def open_one():
        nonlocal opened, failed
        address = "127.0.0.%d" % (2 + source[0] % args.sources)
        source[0] += 1
        sock = socket.socket()
        sock.setblocking(False)
        try:
            sock.bind((address, 0))
            sock.connect_ex((args.host, args.port))
        except OSError:
            sock.close()
            failed += 1
            return
        selector.register(sock, selectors.EVENT_READ)
        socks[sock] = 0
        opened += 1

    def drop(sock):
        selector.unregister(sock)
        del socks[sock]
        sock.close()

    end = time.monotonic() + args.seconds
    next_tick = time.monotonic() + 1.0
    while time.monotonic() < end and not (args.stop_file and os.path.exists(args.stop_file)):
        while len(socks) < args.connections:
            before = len(socks)
            open_one()
            if len(socks) == before:
                break
        peak = max(peak, len(socks))
        for key, _ in selector.select(timeout=0.05):
            sock = key.fileobj
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                closed_by_server += 1
                drop(sock)
        if time.monotonic() >= next_tick:
            next_tick += 1.0
            for sock in list(socks):
                line = (b"POST /hook HTTP/1.1\r\nHost: x\r\n" if socks[sock] == 0
                        else b"X-a%d: b\r\n" % socks[sock])
                try:
                    sock.send(line)
                    socks[sock] += 1
                except OSError:
                    closed_by_server += 1
                    drop(sock)
    for sock in list(socks):
        drop(sock)
    print(json.dumps({"opened": opened, "closed_by_server": closed_by_server, "failed": failed,
                      "peak_open": peak}))


def cmd_hog(args):
    """Connections that look signed, declare a big body, send most of it
    and then wait: what each was answered before its body ended."""
    statuses = []
    lock = threading.Lock()
    fake = {"Content-Type": "application/json", "X-AnnexCloud-Signature": "sha256=" + "0" * 64}

    def one(index):
        status = None
        try:
            address = "127.0.0.%d" % (2 + index % args.sources)
            sock = socket.create_connection((args.host, args.port), timeout=args.seconds + 30,
                                            source_address=(address, 0))
            sock.sendall(raw_request_head("/hook", args.host, fake, args.length))
            chunk = b"x" * 65536
            left = args.send
            try:
                while left > 0:
                    sock.sendall(chunk[:min(left, len(chunk))])
                    left -= min(left, len(chunk))
            except OSError:
                pass  # answered and closed before the body ended
            status = read_status(sock, args.seconds)
            sock.close()
        except OSError:
            pass
        with lock:
            statuses.append(status if status is not None else "none")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(args.connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = {}
    for status in statuses:
        counts[str(status)] = counts.get(str(status), 0) + 1
    print(json.dumps({"connections": args.connections, "statuses": counts}))


def cmd_genuine(args):
    host, port, path = parse_url(args.url)
    results = []
    lock = threading.Lock()

    def one(index):
        body = json.dumps({
            "eventId": "%s-%d" % (args.prefix, index), "eventType": "USER_UPDATE",
            "timestamp": "2026-02-01T00:00:00+0000",
            "data": {"id": "%s-%d" % (args.prefix.upper(), index), "points": {"availablePoints": index},
                     "tiers": {"currentTier": "Bronze"}}}).encode()
        start = time.monotonic()
        status = 0
        try:
            conn = http.client.HTTPConnection(host, port, timeout=30)
            conn.request("POST", path, body=body, headers=auth_headers(args, body))
            answer = conn.getresponse()
            answer.read()
            status = answer.status
            conn.close()
        except (OSError, http.client.HTTPException):
            status = 0
        with lock:
            results.append({"i": index, "status": status, "seconds": round(time.monotonic() - start, 3)})

    threads = []
    total = int(args.rate * args.seconds)
    start = time.monotonic()
    for index in range(total):
        delay = start + index / args.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        thread = threading.Thread(target=one, args=(index,))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    results.sort(key=lambda r: r["i"])
    print(json.dumps({"sent": total, "results": results}))


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--secret")
        p.add_argument("--basic")
        p.add_argument("--scheme", default="Basic")
        p.add_argument("--timeout", type=float, default=30)

    p = sub.add_parser("post")
    p.add_argument("url")
    p.add_argument("body")
    common(p)
    p = sub.add_parser("post-each")
    p.add_argument("url")
    p.add_argument("file")
    common(p)
    p = sub.add_parser("headers-only")
    p.add_argument("url")
    p.add_argument("length", type=int)
    common(p)
    p = sub.add_parser("split")
    p.add_argument("url")
    p.add_argument("go_file")
    p.add_argument("body")
    common(p)
    p = sub.add_parser("slowloris")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--connections", type=int, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--sources", type=int, default=30)
    p.add_argument("--stop-file", help="stop early once this file exists")
    p = sub.add_parser("hog")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--connections", type=int, required=True)
    p.add_argument("--length", type=int, required=True)
    p.add_argument("--send", type=int, required=True)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--sources", type=int, default=5)
    p = sub.add_parser("genuine")
    p.add_argument("url")
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--prefix", default="gen")
    common(p)
    args = parser.parse_args()
    {"post": cmd_post, "post-each": cmd_post_each, "headers-only": cmd_headers_only, "split": cmd_split, "slowloris": cmd_slowloris,
     "hog": cmd_hog, "genuine": cmd_genuine}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
