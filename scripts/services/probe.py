#!/usr/bin/env python3
"""Protocol-level liveness probes for scripts/services.sh (stdlib only).

usage: probe.py SERVICE ADDRESS
  redis    redis://[:password@]host:port[/db]
  rabbitmq amqp://user:pass@host:port[/vhost]   (reads the AMQP Connection.Start frame)
  nats     nats://host:port                       (reads the INFO line; requires JetStream)
  kafka    host:port[,host:port...]               (ApiVersions v0 round trip)
  moto     http://host:port                       (SQS ListQueues + SNS ListTopics, SigV4-scoped)
  pulsar   http://host:port (web service)           (admin version + a WebSocket producer handshake)

Prints a short version/description and exits 0 when the service answers,
prints a reason to stderr and exits 1 otherwise.
"""
import base64
import json
import os
import socket
import struct
import sys
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 3.0


def connect(host, port):
    s = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    s.settimeout(TIMEOUT)
    return s


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def recv_line(s):
    buf = b""
    while not buf.endswith(b"\r\n"):
        chunk = s.recv(1)
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
        if len(buf) > 1 << 20:
            raise ValueError("line too long")
    return buf[:-2]


def split(url, scheme):
    return urllib.parse.urlsplit(url if "://" in url else scheme + "://" + url)


def probe_redis(url):
    u = split(url, "redis")
    with connect(u.hostname or "127.0.0.1", u.port or 6379) as s:
        if u.password:
            user = urllib.parse.unquote(u.username or "")
            pw = urllib.parse.unquote(u.password)
            args = ["AUTH"] + ([user] if user else []) + [pw]
            s.sendall(resp_cmd(args))
            line = recv_line(s)
            if not line.startswith(b"+"):
                raise RuntimeError("AUTH failed: " + line.decode(errors="replace"))
        s.sendall(resp_cmd(["PING"]))
        line = recv_line(s)
        if line != b"+PONG":
            raise RuntimeError("unexpected PING reply: " + line.decode(errors="replace"))
        s.sendall(resp_cmd(["INFO", "server"]))
        head = recv_line(s)
        version = "?"
        if head.startswith(b"$"):
            body = recv_exact(s, int(head[1:]) + 2).decode(errors="replace")
            for ln in body.splitlines():
                if ln.startswith("redis_version:"):
                    version = ln.split(":", 1)[1].strip()
        return version


def resp_cmd(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        b = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(b), b)
    return out


def amqp_table(data):
    """Parse an AMQP 0-9-1 field table body into a dict (only string/bool/table values kept)."""
    out, i = {}, 0
    while i < len(data):
        n = data[i]
        name = data[i + 1:i + 1 + n].decode(errors="replace")
        i += 1 + n
        t = chr(data[i])
        i += 1
        if t in "Sx":
            ln = struct.unpack(">I", data[i:i + 4])[0]
            out[name] = data[i + 4:i + 4 + ln].decode(errors="replace")
            i += 4 + ln
        elif t == "F":
            ln = struct.unpack(">I", data[i:i + 4])[0]
            out[name] = amqp_table(data[i + 4:i + 4 + ln])
            i += 4 + ln
        elif t == "A":
            ln = struct.unpack(">I", data[i:i + 4])[0]
            i += 4 + ln
        elif t == "s":
            ln = data[i]
            i += 1 + ln
        elif t in "tbB":
            out[name] = data[i]
            i += 1
        elif t in "uU":
            i += 2
        elif t in "iIf":
            i += 4
        elif t in "lLdT":
            i += 8
        elif t == "D":
            i += 5
        elif t == "V":
            pass
        else:
            raise ValueError("unknown AMQP field type %r" % t)
    return out


def probe_rabbitmq(url):
    u = split(url, "amqp")
    with connect(u.hostname or "127.0.0.1", u.port or 5672) as s:
        s.sendall(b"AMQP\x00\x00\x09\x01")
        ftype, _chan, size = struct.unpack(">BHI", recv_exact(s, 7))
        payload = recv_exact(s, size + 1)[:-1]
        if ftype != 1:
            raise RuntimeError("not an AMQP 0-9-1 method frame (type %d)" % ftype)
        cls, meth = struct.unpack(">HH", payload[:4])
        if (cls, meth) != (10, 10):
            raise RuntimeError("expected connection.start, got %d.%d" % (cls, meth))
        tlen = struct.unpack(">I", payload[6:10])[0]
        props = amqp_table(payload[10:10 + tlen])
        return props.get("version", "?")


def probe_nats(url):
    u = split(url, "nats")
    with connect(u.hostname or "127.0.0.1", u.port or 4222) as s:
        line = recv_line(s)
        if not line.startswith(b"INFO "):
            raise RuntimeError("unexpected greeting: " + line[:80].decode(errors="replace"))
        info = json.loads(line[5:])
        if not info.get("jetstream"):
            raise RuntimeError("nats-server %s answers but JetStream is not enabled" % info.get("version"))
        return "%s (JetStream on)" % info.get("version", "?")


def probe_kafka(brokers):
    first = brokers.split(",")[0].strip()
    if "://" in first:
        first = first.split("://", 1)[1]
    host, _, port = first.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    client_id = b"causeway-probe"
    # RequestHeader v1: api_key=18 (ApiVersions), api_version=0, correlation_id, client_id
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    with connect(host, port or 9092) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", recv_exact(s, 4))[0]
        resp = recv_exact(s, size)
    corr, err, n = struct.unpack(">ihi", resp[:10])
    if corr != 7:
        raise RuntimeError("bad correlation id")
    if err != 0:
        raise RuntimeError("ApiVersions error code %d" % err)
    return "%d APIs" % n


def aws_query(base, service, body):
    # moto does not verify signatures, but routes on the SigV4 credential scope
    auth = ("AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/%s/aws4_request, "
            "SignedHeaders=host, Signature=0" % service)
    req = urllib.request.Request(
        base + "/", data=body.encode(), method="POST",
        headers={"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
            return r.headers.get("Server", ""), r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        raise RuntimeError("%s: HTTP %d" % (service, e.code))


def probe_moto(url):
    base = url.rstrip("/")
    server, body = aws_query(base, "sqs", "Action=ListQueues&Version=2012-11-05")
    if "ListQueuesResponse" not in body and "QueueUrls" not in body:
        raise RuntimeError("sqs: unexpected ListQueues answer: " + body[:120])
    _, body = aws_query(base, "sns", "Action=ListTopics&Version=2010-03-31")
    if "ListTopicsResponse" not in body:
        raise RuntimeError("sns: unexpected ListTopics answer: " + body[:120])
    return server or "SQS+SNS ok"


def probe_pulsar(url):
    u = split(url, "http")
    host, port = u.hostname or "127.0.0.1", u.port or 8080
    base = "%s://%s:%d" % ("https" if u.scheme in ("https", "wss") else "http", host, port)
    with urllib.request.urlopen(base + "/admin/v2/brokers/version", timeout=TIMEOUT) as r:
        version = r.read().decode(errors="replace").strip().strip('"')
    # The broker answers REST before standalone has created public/default, and the
    # WebSocket service is what Causeway talks to: ready means a producer handshake
    # succeeds there. A non-persistent topic keeps the probe from storing anything.
    path = "/ws/v2/producer/non-persistent/public/default/causeway-services-probe"
    key = base64.b64encode(os.urandom(16)).decode()
    request = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key))
    with connect(host, port) as s:
        s.sendall(request.encode())
        status = recv_line(s).decode(errors="replace")
    if " 101 " not in status + " ":
        raise RuntimeError("WebSocket producer handshake answered %r" % status)
    return "%s (WebSocket on)" % version


PROBES = {
    "redis": probe_redis,
    "rabbitmq": probe_rabbitmq,
    "nats": probe_nats,
    "kafka": probe_kafka,
    "moto": probe_moto,
    "pulsar": probe_pulsar,
}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in PROBES:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        print(PROBES[sys.argv[1]](sys.argv[2]))
        return 0
    except Exception as e:  # any failure means "not answering (yet)"
        print("%s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
