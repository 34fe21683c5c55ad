#!/usr/bin/env python3
"""Makes the image inputs of tests/hostile/run.sh that need a real encoder (see data/README.md).

    python3 tests/hostile/make_images.py        # rewrites tests/hostile/data/*.png (deterministic output)

Needs Pillow (the bomb, the odd-sized and the grey image); the 65535x65535 header is written by hand.
The outputs are committed, so run.sh itself needs neither python nor Pillow.
"""
import os
import struct
import zlib

from PIL import Image

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def main() -> None:
    os.makedirs(DATA, exist_ok=True)

    # A valid PNG signature + IHDR declaring 65535x65535 RGB8 (12.9 GB of pixels), then one IDAT holding
    # a single zlib-compressed scanline and IEND: a few dozen bytes that must be refused from the header.
    ihdr = struct.pack(">IIBBBBB", 65535, 65535, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\x00" * 3 * 16)
    with open(os.path.join(DATA, "declares_65535x65535.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))

    # A decompression bomb: an 8200x8200 8-bit grayscale PNG of zeros (67 MB of pixels, ~65 KB on disk),
    # just over the decoder's 2^26-pixel cap (8192x8192 is exactly the cap and is admitted).
    Image.new("L", (8200, 8200), 0).save(os.path.join(DATA, "bomb_8200x8200_zeros.png"), optimize=True)

    # A small ordinary RGB image whose sides (50x37) are not multiples of patch_size*merge_size = 32, for
    # preprocessor_config.json do_resize=false.
    img = Image.new("RGB", (50, 37))
    img.putdata([((x * 5) % 256, (y * 7) % 256, (x + y) % 256) for y in range(37) for x in range(50)])
    img.save(os.path.join(DATA, "odd_50x37.png"), optimize=True)

    # A plain 512x512 mid-grey RGB image: 256 image tokens for the tiny checkpoint, more than a context of 64.
    Image.new("RGB", (512, 512), (128, 128, 128)).save(os.path.join(DATA, "grey_512x512.png"), optimize=True)


if __name__ == "__main__":
    main()
