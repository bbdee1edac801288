#!/usr/bin/env python3
"""Writes the binary seeds of corpus/bson/ and corpus/sqlite_row/ (the text seeds are written by
hand). Run from anywhere: python3 tests/fuzz/make_seeds.py. Uses only the standard library."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


# ---- BSON (bsonspec.org), enough types for the outbox document and its edge cases ----
def cstring(s):
    return s.encode() + b"\0"


def element(key, value):
    k = cstring(key)
    if value is None:
        return b"\x0a" + k
    if isinstance(value, bool):
        return b"\x08" + k + (b"\x01" if value else b"\x00")
    if isinstance(value, tuple):  # (type byte, raw payload)
        return bytes([value[0]]) + k + value[1]
    if isinstance(value, int):
        if -2**31 <= value < 2**31:
            return b"\x10" + k + struct.pack("<i", value)
        return b"\x12" + k + struct.pack("<q", value)
    if isinstance(value, float):
        return b"\x01" + k + struct.pack("<d", value)
    if isinstance(value, str):
        b = value.encode()
        return b"\x02" + k + struct.pack("<i", len(b) + 1) + b + b"\0"
    if isinstance(value, dict):
        return b"\x03" + k + document(value)
    if isinstance(value, list):
        return b"\x04" + k + document({str(i): v for i, v in enumerate(value)})
    raise TypeError(value)


def document(d):
    body = b"".join(element(k, v) for k, v in d.items())
    return struct.pack("<i", len(body) + 5) + body + b"\0"


def int64(v):
    return (0x12, struct.pack("<q", v))


def date(ms):
    return (0x09, struct.pack("<q", ms))


def object_id(hex24):
    return (0x07, bytes.fromhex(hex24))


def decimal128(low, high):
    return (0x13, struct.pack("<QQ", low, high))


def binary(data):
    return (0x05, struct.pack("<i", len(data)) + b"\x00" + data)


US = 1764422768123456  # 2025-11-29T13:26:08.123456Z
bson_seeds = {
    "outbox_document": {"_id": "0192a5c4-7e1f-7abc-8def-0123456789ab", "type": "order_created", "key": "order-42",
                        "data": {"ordernr": 42, "lines": [{"sku": "ABC-123", "q": 2, "price": 19.99}], "gift": False},
                        "headers": {"traceparent": "00-abc-01"}, "created": date(US // 1000),
                        "created_us": int64(US), "pos": int64(17)},
    "created_ms_only": {"_id": "i", "type": "t", "key": None, "data": {}, "created": date(-86400000)},
    "all_json_types": {"_id": "i", "type": "t", "data": {
        "i32": -7, "i64": int64(2**40), "d": 1.5, "s": "\u00e9\U0001F600", "b": True, "n": None,
        "a": [1, "x", [None]], "o": {"p": {}}, "date": date(-1), "oid": object_id("5f1d7a3b9c0e4a2b8d6f1e0c"),
        "dec": decimal128(110, 0x3040000000000000 - (2 << 49)), "sym": (0x0E, struct.pack("<i", 2) + b"s\0")},
        "headers": None, "created_us": int64(0), "pos": 1},
    "no_json_form": {"_id": "i", "type": "t", "data": {"bin": binary(b"\x00\x01"), "re": (0x0B, b"a+\0i\0")},
                     "created_us": int64(1)},
    "wrong_fields": {"_id": 5, "type": 1, "key": 2.5, "data": [1], "headers": {"h": 1}, "created_us": "x", "pos": "y"},
}


# ---- sqlite_row: what FuzzedDataProvider hands the harness (integers from the end, strings from the front) ----
class Provider:
    def __init__(self):
        self.front, self.back = b"", b""  # back: in consumption order, most significant byte first

    def string(self, s):
        self.front += s.replace(b"\\", b"\\\\") + b"\\|"

    def int64(self, v):
        self.back += ((v + 2**63) % 2**64).to_bytes(8, "big")

    def byte(self, v):
        self.back += bytes([v])

    def column(self, value):
        if value is None:
            self.byte(0)
        elif isinstance(value, int):
            self.byte(1)
            self.int64(value)
        elif isinstance(value, bytes):
            self.byte(3)  # BLOB
            self.string(value)
        else:
            self.byte(4)  # TEXT
            self.string(value.encode())

    def data(self):
        return self.front + self.back[::-1]


def sqlite_row(position, id_, type_, key, data, headers, created_us, parse_data):
    p = Provider()
    p.int64(position)
    for value in (id_, type_, key, data, headers, created_us):
        p.column(value)
    p.byte(1 if parse_data else 0)
    return p.data()


sqlite_seeds = {
    "put_row": sqlite_row(17, "0192a5c4-7e1f-7abc-8def-0123456789ab", "order_created", "order-42",
                          '{"ordernr":42}', '{"traceparent":"00-abc-01"}', US, True),
    "relay_row": sqlite_row(1, "i", "t", None, '{"a":[1,{"b":null}]}', None, 0, False),
    "foreign_row": sqlite_row(2**40, "i", "t", 12, '{"a":"\u00e9"} ', '["not", "an", "object"]', -1, True),
    "unparseable_data": sqlite_row(3, "i", "t", "k", "{not json", '{"h":5,"g":"ok"}', US, True),
    "blob_values": sqlite_row(4, b"\xff\xfe", b"t\x00t", b"k", b'{"x":1}', b'{"h\xff":"v"}', 2**62, True),
}

for name, doc in bson_seeds.items():
    os.makedirs(os.path.join(HERE, "corpus", "bson"), exist_ok=True)
    with open(os.path.join(HERE, "corpus", "bson", name), "wb") as f:
        f.write(document(doc))
for name, data in sqlite_seeds.items():
    os.makedirs(os.path.join(HERE, "corpus", "sqlite_row"), exist_ok=True)
    with open(os.path.join(HERE, "corpus", "sqlite_row", name), "wb") as f:
        f.write(data)
