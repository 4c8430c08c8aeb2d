#!/usr/bin/env python3
"""Draws Palaver's app icons (web/public/icons) from the logo: a speech bubble on a rounded
violet square, the same shape as the favicon in web/index.html (32-unit grid). Standard library
only, so anyone can re-run it: `python3 scripts/draw-icons.py`. The PNGs are committed.

- icon-192.png, icon-512.png: the logo as is ("any" purpose).
- maskable-512.png: full-bleed violet with the bubble inside the central safe zone, for
  launchers that cut their own shape (a circle, a squircle).
- icon.svg: the logo as a vector (favicon, notifications).
"""
import os
import struct
import zlib

VIOLET = (0x5B, 0x5B, 0xD6)
WHITE = (0xFF, 0xFF, 0xFF)
# The bubble, on the 32-unit grid of the favicon: M9 10h14v9H15l-4 4v-4H9z
BUBBLE = [(9, 10), (23, 10), (23, 19), (15, 19), (11, 23), (11, 19), (9, 19)]
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<rect width="32" height="32" rx="8" fill="#5b5bd6"/>'
    '<path d="M9 10h14v9H15l-4 4v-4H9z" fill="white"/></svg>\n'
)
SAMPLES = 4  # per axis: 16 samples a pixel for smooth edges


def in_rounded_square(x, y, radius):
    """Inside the 32x32 square with corners of `radius` (radius 0: the whole square)."""
    if not (0 <= x <= 32 and 0 <= y <= 32):
        return False
    cx = min(max(x, radius), 32 - radius)
    cy = min(max(y, radius), 32 - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2


def in_polygon(x, y, points):
    inside = False
    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1]):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def draw(size, corner, bubble_scale):
    """RGBA rows of the icon at `size` px: the square with corners `corner`, the bubble scaled
    about the square's centre by `bubble_scale`."""
    bubble = [(16 + (px - 16) * bubble_scale, 16.5 + (py - 16.5) * bubble_scale) for px, py in BUBBLE]
    rows = []
    for j in range(size):
        row = bytearray()
        for i in range(size):
            square = white = 0
            for sj in range(SAMPLES):
                for si in range(SAMPLES):
                    x = (i + (si + 0.5) / SAMPLES) * 32 / size
                    y = (j + (sj + 0.5) / SAMPLES) * 32 / size
                    if in_rounded_square(x, y, corner):
                        square += 1
                        if in_polygon(x, y, bubble):
                            white += 1
            n = SAMPLES * SAMPLES
            if square == 0:
                row += bytes(4)
                continue
            w = white / square
            colour = [round(v * (1 - w) + c * w) for v, c in zip(VIOLET, WHITE)]
            row += bytes(colour + [round(255 * square / n)])
        rows.append(bytes(row))
    return rows


def png(rows, size):
    raw = b"".join(b"\x00" + r for r in rows)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "web", "public", "icons")
    os.makedirs(out, exist_ok=True)
    for name, size, corner, scale in [
        ("icon-192.png", 192, 8, 1.0),
        ("icon-512.png", 512, 8, 1.0),
        # The safe zone of a maskable icon is the central circle of 80% of its width.
        ("maskable-512.png", 512, 0, 0.8),
    ]:
        with open(os.path.join(out, name), "wb") as f:
            f.write(png(draw(size, corner, scale), size))
    with open(os.path.join(out, "icon.svg"), "w") as f:
        f.write(SVG)


if __name__ == "__main__":
    main()
