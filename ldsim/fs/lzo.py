"""A pure-Python LZO1X decompressor (the format ``mksquashfs -comp lzo`` writes).

SquashFS 4.0 images compressed with LZO (compression id 3 in the superblock, see Linux
``fs/squashfs/squashfs_fs.h``) store each metadata and data block as one raw LZO1X stream with
no header; the kernel decodes it with ``lzo1x_decompress_safe`` (``lib/lzo/``), squashfs-tools
with liblzo2's function of the same name. Every LZO1X compressor (``lzo1x_1``, ``lzo1x_999``)
writes the same bitstream, so one decoder reads them all.

The decoder follows the kernel's ``lzo1x_decompress_safe`` instruction for instruction, with
every check of the "safe" variant: reading past the input, writing past ``max_out``, a match
reaching before the start of the output, a missing end-of-stream marker and trailing input
all raise :class:`LzoError` (a ``ValueError``). Literal runs and matches are copied with slices,
so the cost is one Python loop iteration per instruction, not per byte.

Instructions (``t`` is the instruction byte; "state" is the number of literals the previous
instruction copied, 4 meaning "a literal run of 4 or more"):

* ``0..15`` after state 0: a literal run of ``t + 3`` bytes (``t == 0``: extended length);
* ``0..15`` after state 1..3: a 2-byte match at distance ``1 + (t >> 2) + (b << 2)``;
* ``0..15`` after state 4: a 3-byte match at distance ``0x801 + (t >> 2) + (b << 2)``;
* ``64..255`` (M2): 3..8 bytes at distance up to 0x800;
* ``32..63`` (M3): a match at distance up to 0x4000;
* ``16..31`` (M4): a match at distance 0x4000..0xbfff; distance 0x4000 with length 3 is
  the end-of-stream marker (``0x11 0x00 0x00``).

Each match's low two distance bits give 0..3 literals that follow it (the next state).
"""

from __future__ import annotations

__all__ = ["LzoError", "decompress"]

M2_MAX_OFFSET = 0x0800


class LzoError(ValueError):
    """The input is not a valid LZO1X stream (or decodes to more than allowed)."""


def decompress(src: bytes | bytearray | memoryview, max_out: int) -> bytes:
    """Decode one raw LZO1X stream that decompresses to at most ``max_out`` bytes."""
    try:
        return _decompress(bytes(src), max_out)
    except IndexError:
        raise LzoError("input overrun") from None


def _extended_length(src: bytes, ip: int, base: int) -> tuple[int, int]:
    """Decode a run of zero bytes (255 each) and the final non-zero byte after ``ip``."""
    start = ip
    while src[ip] == 0:
        ip += 1
    return base + 255 * (ip - start) + src[ip], ip + 1


def _decompress(src: bytes, max_out: int) -> bytes:
    n = len(src)
    if n < 3:
        raise LzoError("input overrun")
    out = bytearray()
    op = 0
    ip = 0
    state = 0
    t = src[0]
    if t > 17:
        # The first instruction may be a literal run of t - 17 bytes.
        t -= 17
        ip = 1
        if ip + t > n:
            raise LzoError("input overrun")
        if t > max_out:
            raise LzoError("output overrun")
        out += src[ip:ip + t]
        ip += t
        op = t
        state = t if t < 4 else 4

    while True:
        t = src[ip]
        ip += 1
        if t < 16:
            if state == 0:
                # Literal run.
                if t == 0:
                    t, ip = _extended_length(src, ip, 15)
                t += 3
                if ip + t > n:
                    raise LzoError("input overrun")
                if op + t > max_out:
                    raise LzoError("output overrun")
                out += src[ip:ip + t]
                ip += t
                op += t
                state = 4
                continue
            if state != 4:
                # 2-byte match, then 0..3 literals.
                nxt = t & 3
                m_pos = op - 1 - (t >> 2) - (src[ip] << 2)
                ip += 1
                length = 2
            else:
                # 3-byte match at a distance beyond M2_MAX_OFFSET.
                nxt = t & 3
                m_pos = op - (1 + M2_MAX_OFFSET) - (t >> 2) - (src[ip] << 2)
                ip += 1
                length = 3
        elif t >= 64:
            # M2
            nxt = t & 3
            m_pos = op - 1 - ((t >> 2) & 7) - (src[ip] << 3)
            ip += 1
            length = (t >> 5) + 1
        elif t >= 32:
            # M3
            length = (t & 31) + 2
            if length == 2:
                length, ip = _extended_length(src, ip, 33)
            v = src[ip] | (src[ip + 1] << 8)
            ip += 2
            m_pos = op - 1 - (v >> 2)
            nxt = v & 3
        else:
            # M4, or the end-of-stream marker.
            m_pos = op - ((t & 8) << 11)
            length = (t & 7) + 2
            if length == 2:
                length, ip = _extended_length(src, ip, 9)
            v = src[ip] | (src[ip + 1] << 8)
            ip += 2
            m_pos -= v >> 2
            nxt = v & 3
            if m_pos == op:
                if length != 3:
                    raise LzoError("bad end-of-stream marker")
                if ip < n:
                    raise LzoError("input not consumed")
                return bytes(out)
            m_pos -= 0x4000

        if m_pos < 0:
            raise LzoError("lookbehind overrun")
        if op + length + nxt > max_out:
            raise LzoError("output overrun")
        dist = op - m_pos
        if dist >= length:
            out += out[m_pos:m_pos + length]
        else:
            # Overlapping copy: the bytes repeat with period ``dist``.
            chunk = out[m_pos:op]
            out += (chunk * (length // dist + 1))[:length]
        op += length
        # 0..3 trailing literals.
        if nxt:
            if ip + nxt > n:
                raise LzoError("input overrun")
            out += src[ip:ip + nxt]
            ip += nxt
            op += nxt
        state = nxt
