#!/usr/bin/env python3
"""delivery_seeds.py -- writes the seed corpus of fuzz_delivery
(fuzz/corpus/fuzz_delivery/): deliveries as fuzz_delivery.c reads them,
a flags byte, the length of the AMQP basic properties (big-endian, 2
bytes), the properties as a content header frame carries them, the body.
The found_* files beside them are inputs the fuzzer found, kept as they are.

    python3 fuzz/delivery_seeds.py [directory]
"""
import os
import struct
import sys

PROPS = [  # (name, flag bit, kind) in wire order
    ("content_type", 15, "s"), ("content_encoding", 14, "s"), ("headers", 13, "F"),
    ("delivery_mode", 12, "o"), ("priority", 11, "o"), ("correlation_id", 10, "s"),
    ("reply_to", 9, "s"), ("expiration", 8, "s"), ("message_id", 7, "s"),
    ("timestamp", 6, "T"), ("type", 5, "s"), ("user_id", 4, "s"), ("app_id", 3, "s"),
    ("cluster_id", 2, "s"),
]


def shortstr(b):
    b = b.encode() if isinstance(b, str) else b
    return struct.pack(">B", len(b)) + b


def value(v):
    """A field value: str/bytes 'S', bool 't', int 'l', float 'd', list 'A',
    dict 'F', or an explicit (kind, raw bytes) pair."""
    if isinstance(v, tuple):
        return v[0].encode() + v[1]
    if isinstance(v, bool):
        return b"t" + struct.pack(">B", v)
    if isinstance(v, int):
        return b"l" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"d" + struct.pack(">d", v)
    if isinstance(v, list):
        inner = b"".join(value(x) for x in v)
        return b"A" + struct.pack(">I", len(inner)) + inner
    if isinstance(v, dict):
        return b"F" + table(v)
    b = v.encode() if isinstance(v, str) else v
    return b"S" + struct.pack(">I", len(b)) + b


def table(entries):
    items = entries.items() if isinstance(entries, dict) else entries
    inner = b"".join(shortstr(k) + value(v) for k, v in items)
    return struct.pack(">I", len(inner)) + inner


def props(**p):
    flags, out = 0, b""
    for name, bit, kind in PROPS:
        if name not in p:
            continue
        flags |= 1 << bit
        v = p[name]
        if kind == "s":
            out += shortstr(v)
        elif kind == "F":
            out += table(v)
        elif kind == "o":
            out += struct.pack(">B", v)
        else:
            out += struct.pack(">Q", v)
    return struct.pack(">H", flags) + out


def delivery(body, flags=0, **p):
    enc = props(**p)
    body = body.encode() if isinstance(body, str) else body
    return struct.pack(">BH", flags, len(enc)) + enc + body


CREATE = '{"Dockercmd":"create","Image":"busybox:latest"}'
RUN = '{"Dockercmd":"run","Image":"busybox:latest","Cmd":["true"],"Options":{"Remove":true}}'
BASE = dict(content_type="application/json", reply_to="replies", correlation_id="c1")
SEEDS = {
    "ping": delivery('{"Dockercmd":"ping"}', message_id="p1", **BASE),
    "crash_incarnation": delivery(CREATE, 4, message_id="crash", user_id="dd-nodes",
                                  headers={"x-dd-incarnation": b"1765000000000000000\xff"},
                                  **BASE),
    "incarnation_from_publisher": delivery(CREATE, 4, message_id="i2",
                                           headers={"x-dd-incarnation": "1"}, **BASE),
    "part_spoofed": delivery('{"Dockercmd":"list","Options":{"All":true}}', message_id="s1",
                             user_id="mallory",
                             headers=[("x-dd-part", "1"), ("x-dd-from", "n1")], **BASE),
    "forwarded": delivery('{"Dockercmd":"stop","Container":"abc"}', 4, message_id="f1",
                          user_id="dd-nodes",
                          headers=[("x-dd-hop", "n2"), ("x-dd-user", "alice")], **BASE),
    "part_query": delivery('{"Dockercmd":"list","Options":{"All":true,"Cluster":true}}',
                           message_id="q1", user_id="dd-nodes",
                           headers=[("x-dd-part", "1"), ("x-dd-from", "n2"),
                                    ("x-dd-user", "bob")], **BASE),
    "bulk_piece": delivery(RUN, message_id="b1.0", user_id="dd-nodes",
                           headers=[("x-dd-part", "1"), ("x-dd-incarnation", "42")], **BASE),
    "bulk_request": delivery('{"Dockercmd":"run","Image":"busybox:latest",'
                             '"Options":{"Instances":3}}', message_id="b2", **BASE),
    "many_headers": delivery(CREATE, message_id="m1",
                             headers=[("x-app-%d" % i, "v") for i in range(65)], **BASE),
    "rabbit_headers": delivery(RUN, 1, message_id="r1", headers=[
        ("x-delivery-count", 2),
        ("x-death", [{"count": 3, "reason": "rejected", "queue": "q"}])], **BASE),
    "nul_message_id": delivery(CREATE, message_id=b"a\0b", **BASE),
    "header_kinds": delivery('{"action":"list-containers","all":true}', 2, message_id="k1",
                             user_id="dd-nodes", type="t", delivery_mode=2, timestamp=1,
                             headers=[("x-b", True), ("x-i", ("I", struct.pack(">i", -7))),
                                      ("x-f", 1.5), ("x-t", {"a": "b"}),
                                      ("x-dd-hop", ("x", struct.pack(">I", 2) + b"n2")),
                                      ("x-v", ("V", b""))], **BASE),
    "dockermod_user": delivery('{"action":"version"}', 4, message_id="v1", user_id="alice",
                               **BASE),
}

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "fuzz_delivery")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
