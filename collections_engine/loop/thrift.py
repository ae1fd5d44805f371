"""Thrift's compact protocol, generically: the encoding of a parquet file's footer.

`loop/append.py` edits a parquet footer (FileMetaData) to add row groups without re-encoding
the ones the file holds; pyarrow reads and writes footers but offers no call to edit one. This
codec decodes any compact-protocol struct into nested lists of `[field id, type, value]` in the
order the fields came, and encodes them back: a struct decoded and encoded again gives the same
bytes (fields it does not know, statistics, encryption, future additions included), so only
the fields the caller changes move. Spec: Apache Thrift, doc/specs/thrift-compact-protocol.md.
"""

from __future__ import annotations

import struct
from typing import Any

__all__ = ["Struct", "decode_struct", "encode_struct", "field", "set_field",
           "BOOL_TRUE", "BOOL_FALSE", "I16", "I32", "I64", "BINARY", "LIST", "STRUCT"]

STOP, BOOL_TRUE, BOOL_FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT, \
    UUID = range(14)

# a struct: [[field id, compact type, value], ...]; a list or set value: (element type, [...]);
# a map value: (key type, value type, [(key, value), ...]); a bool field's value: True/False
# (its type is BOOL_TRUE); a bool element of a collection: its raw byte (1 true, else false)
Struct = list


class _Reader:
    def __init__(self, buf: bytes, pos: int = 0) -> None:
        self.buf, self.pos = memoryview(buf), pos

    def byte(self) -> int:
        b = self.buf[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        out, shift = 0, 0
        while True:
            b = self.byte()
            out |= (b & 0x7F) << shift
            if not b & 0x80:
                return out
            shift += 7

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise ValueError("thrift: value runs past the end of the buffer")
        out = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return out

    def value(self, t: int) -> Any:
        if t == BYTE:
            return struct.unpack("<b", self.take(1))[0]
        if t in (I16, I32, I64):
            return self.zigzag()
        if t == DOUBLE:
            return struct.unpack("<d", self.take(8))[0]
        if t == BINARY:
            return self.take(self.varint())
        if t == UUID:
            return self.take(16)
        if t in (LIST, SET):
            head = self.byte()
            size, et = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            if et in (BOOL_TRUE, BOOL_FALSE):
                return et, [self.byte() for _ in range(size)]
            return et, [self.value(et) for _ in range(size)]
        if t == MAP:
            size = self.varint()
            if size == 0:
                return 0, 0, []
            kinds = self.byte()
            kt, vt = kinds >> 4, kinds & 0x0F
            return kt, vt, [(self.value(kt), self.value(vt)) for _ in range(size)]
        if t == STRUCT:
            return self.struct()
        raise ValueError(f"thrift: unknown compact type {t}")

    def struct(self) -> Struct:
        out: Struct = []
        last = 0
        while True:
            head = self.byte()
            if head == STOP:
                return out
            t, delta = head & 0x0F, head >> 4
            fid = last + delta if delta else self.zigzag()
            if t in (BOOL_TRUE, BOOL_FALSE):
                out.append([fid, BOOL_TRUE, t == BOOL_TRUE])
            else:
                out.append([fid, t, self.value(t)])
            last = fid


def _varint(out: bytearray, n: int) -> None:
    while True:
        if n < 0x80:
            out.append(n)
            return
        out.append((n & 0x7F) | 0x80)
        n >>= 7


def _zigzag(out: bytearray, n: int) -> None:
    _varint(out, (n << 1) ^ (n >> 63))


def _write_value(out: bytearray, t: int, v: Any) -> None:
    if t == BYTE:
        out += struct.pack("<b", v)
    elif t in (I16, I32, I64):
        _zigzag(out, v)
    elif t == DOUBLE:
        out += struct.pack("<d", v)
    elif t == BINARY:
        _varint(out, len(v))
        out += v
    elif t == UUID:
        out += v
    elif t in (LIST, SET):
        et, items = v
        if len(items) < 15:
            out.append((len(items) << 4) | et)
        else:
            out.append(0xF0 | et)
            _varint(out, len(items))
        for item in items:
            if et in (BOOL_TRUE, BOOL_FALSE):
                out.append(item)
            else:
                _write_value(out, et, item)
    elif t == MAP:
        kt, vt, pairs = v
        _varint(out, len(pairs))
        if pairs:
            out.append((kt << 4) | vt)
            for k, x in pairs:
                _write_value(out, kt, k)
                _write_value(out, vt, x)
    elif t == STRUCT:
        _write_struct(out, v)
    else:
        raise ValueError(f"thrift: unknown compact type {t}")


def _write_struct(out: bytearray, fields: Struct) -> None:
    last = 0
    for fid, t, v in fields:
        wire = (BOOL_TRUE if v else BOOL_FALSE) if t == BOOL_TRUE else t
        delta = fid - last
        if 0 < delta <= 15:
            out.append((delta << 4) | wire)
        else:
            out.append(wire)
            _zigzag(out, fid)
        if t != BOOL_TRUE:
            _write_value(out, t, v)
        last = fid
    out.append(STOP)


def decode_struct(buf: bytes, pos: int = 0) -> tuple[Struct, int]:
    """The struct encoded at `pos` and the position after it."""
    r = _Reader(buf, pos)
    try:
        s = r.struct()
    except IndexError:
        raise ValueError("thrift: struct runs past the end of the buffer") from None
    return s, r.pos


def encode_struct(fields: Struct) -> bytes:
    out = bytearray()
    _write_struct(out, fields)
    return bytes(out)


def field(s: Struct, fid: int, default: Any = None) -> Any:
    """The value of field `fid` of struct `s` (default when absent)."""
    for f, _, v in s:
        if f == fid:
            return v
    return default


def set_field(s: Struct, fid: int, t: int, value: Any) -> None:
    """Set field `fid` (kept in field-id order, as encoders write them)."""
    for entry in s:
        if entry[0] == fid:
            entry[1], entry[2] = t, value
            return
    s.append([fid, t, value])
    s.sort(key=lambda e: e[0])
