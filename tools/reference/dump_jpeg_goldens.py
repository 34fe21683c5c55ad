#!/usr/bin/env python3
"""JPEGs of every kind HF meets, and their pixels as HF decodes them (Pillow), for tests/test_image_decode.

Writes tests/data/images/jpeg/*.jpg and tests/data/golden/jpeg_pil.safetensors: for each file NAME, a
uint8 tensor NAME [H, W, 3] holding what transformers' load_image gives for a path or base64 string —
PIL.Image.open, PIL.ImageOps.exif_transpose, .convert("RGB") — so vlgraph's decoder (libjpeg-turbo with
PIL's settings, EXIF orientation applied) must match it exactly. Needs only Pillow (the version in
requirements.txt); deterministic. Run from the repository root: python3 tools/reference/dump_jpeg_goldens.py
"""
import io
import json
import os
import struct

from PIL import Image, ImageOps

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGES = os.path.join(ROOT, "tests/data/images/jpeg")
GOLDEN = os.path.join(ROOT, "tests/data/golden/jpeg_pil.safetensors")


def source(width=61, height=37):
    """Gradients, edges and a little deterministic noise: odd sizes exercise the chroma upsamplers' edges."""
    im = Image.new("RGB", (width, height))
    state = 12345
    px = im.load()
    for y in range(height):
        for x in range(width):
            state = (state * 1103515245 + 12345) & 0x7FFFFFFF
            noise = (state >> 16) % 23 - 11
            edge = 90 if (x // 7 + y // 5) % 2 else 0
            px[x, y] = (max(0, min(255, x * 4 + noise + edge)), max(0, min(255, y * 6 - noise)), max(0, min(255, 255 - x * 2 - y * 3 + edge // 2)))
    return im


def with_orientation(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def main():
    os.makedirs(IMAGES, exist_ok=True)
    im = source()
    files = {
        "q90_444": (im, {"quality": 90, "subsampling": 0}),
        "q90_422": (im, {"quality": 90, "subsampling": 1}),
        "q75_420": (im, {"quality": 75, "subsampling": 2}),
        "progressive_420": (im, {"quality": 85, "subsampling": 2, "progressive": True}),
        "optimized_restart_420": (im, {"quality": 80, "subsampling": 2, "optimize": True, "restart_marker_blocks": 2}),
        "gray": (im.convert("L"), {"quality": 90}),
        "cmyk": (im.convert("CMYK"), {"quality": 90}),
        "exif_rotate_90_cw": (im, {"quality": 90, "subsampling": 2, "exif": with_orientation(6)}),
        "exif_rotate_180": (im, {"quality": 90, "subsampling": 1, "exif": with_orientation(3)}),
        "exif_transpose": (im, {"quality": 90, "subsampling": 0, "exif": with_orientation(5)}),
    }
    header, data = {}, b""
    for name, (img, options) in sorted(files.items()):
        buf = io.BytesIO()
        img.save(buf, "JPEG", **options)
        path = os.path.join(IMAGES, name + ".jpg")
        with open(path, "wb") as f:
            f.write(buf.getvalue())
        # transformers.image_utils.load_image on a path: open, exif_transpose, convert("RGB").
        decoded = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
        raw = decoded.tobytes()
        header[name] = {"dtype": "U8", "shape": [decoded.height, decoded.width, 3], "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    header["__metadata__"] = {"pillow": Image.__version__, "made_by": "tools/reference/dump_jpeg_goldens.py"}
    text = json.dumps(header, sort_keys=True).encode()
    text += b" " * (-len(text) % 8)
    with open(GOLDEN, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


if __name__ == "__main__":
    main()
