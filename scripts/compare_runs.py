#!/usr/bin/env python3
"""Compares the frames two runs rendered at the same tick and camera, pixel for pixel.

    python3 scripts/compare_runs.py out/drive-x86 out/drive-arm

Reads each run's frames.jsonl, pairs frames by (agent, camera, tick), decodes both PNGs (8-bit RGB, no
interlace: what the recorder writes) and prints, per pair, `identical` or the number of differing bytes and the
largest difference. Exits 1 if any pair differs or no pair exists. Used to show that a build for another CPU
(docs/DEPLOY.md: the aarch64 robot build under qemu) renders the same images as this one.
"""

import json
import struct
import sys
import zlib
from pathlib import Path


def frames(run: Path) -> dict:
    out = {}
    for line in (run / "frames.jsonl").read_text().splitlines():
        f = json.loads(line)
        out[(f.get("agent_id", 0), f["camera"], f["tick"])] = run / f["file"]
    return out


def pixels(path: Path) -> bytes:
    """The unfiltered scanlines of an 8-bit RGB PNG."""
    data = path.read_bytes()
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if (depth, colour, interlace) != (8, 2, 0):
                sys.exit(f"{path}: expected an 8-bit RGB PNG without interlace")
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, bpp = zlib.decompress(idat), width * 3, 3
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + b) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return b"".join(rows)


def main() -> int:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a, b = frames(Path(sys.argv[1])), frames(Path(sys.argv[2]))
    common = sorted(set(a) & set(b))
    differing = 0
    for key in common:
        pa, pb = pixels(a[key]), pixels(b[key])
        if pa == pb:
            print(f"agent {key[0]} {key[1]} tick {key[2]}: identical")
            continue
        differing += 1
        diffs = [abs(x - y) for x, y in zip(pa, pb) if x != y]
        print(f"agent {key[0]} {key[1]} tick {key[2]}: {len(diffs)} bytes differ, at most by {max(diffs, default=0)}")
    print(f"{len(common)} frames in both runs, {len(common) - differing} identical")
    return 0 if common and differing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
