#!/usr/bin/env python3
"""HF's two image paths, which disagree with each other, as goldens for tests/test_image_decode.

transformers turns an image into RGB in two ways:
  string: image_utils.load_image(path or base64) = PIL.Image.open, ImageOps.exif_transpose, convert("RGB"):
          EXIF orientation applied, alpha dropped (stored colours kept, palette transparency ignored);
  pil:    a PIL image handed to the processor = image_transforms.convert_to_rgb: alpha composited on white,
          EXIF orientation ignored.
Writes tests/data/images/paths/*.png (small images with alpha and EXIF orientation together, so both
disagreements show) and tests/data/golden/image_paths.safetensors: for each file NAME the uint8 [H, W, 3]
tensors "string.NAME" and "pil.NAME" as transformers computes them. Also covers the RGBA and EXIF images of
tests/data/images. Needs Pillow, numpy, safetensors and transformers (requirements.txt); deterministic.
Run from the repository root: python3 tools/reference/dump_image_paths.py
"""
import os

import numpy as np
from PIL import Image
from safetensors.numpy import save_file
from transformers.image_transforms import convert_to_rgb
from transformers.image_utils import load_image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(ROOT, "tests/data/images/paths")
GOLDEN = os.path.join(ROOT, "tests/data/golden/image_paths.safetensors")


def exif_with_orientation(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def pattern(w, h, channels):
    """Deterministic gradients; alpha (the last channel when 2 or 4) sweeps 0..255 including 0 and 255."""
    a = np.zeros((h, w, channels), np.uint8)
    for y in range(h):
        for x in range(w):
            v = [(x * 37 + y * 11) % 256, (x * 5 + y * 53) % 256, (x * 19 + y * 29 + 7) % 256]
            alpha = (x * 255) // (w - 1) if y % 2 else (255 if x % 3 else 0)
            a[y, x] = (v[:channels - 1] + [alpha]) if channels in (2, 4) else v[:channels]
    return a


def write_images():
    os.makedirs(OUT_DIR, exist_ok=True)
    Image.fromarray(pattern(13, 7, 4), "RGBA").save(os.path.join(OUT_DIR, "rgba_exif6.png"), exif=exif_with_orientation(6))
    Image.fromarray(pattern(9, 5, 2), "LA").save(os.path.join(OUT_DIR, "la_exif3.png"), exif=exif_with_orientation(3))
    p = Image.fromarray(pattern(11, 6, 3), "RGB").quantize(colors=16, dither=Image.Dither.NONE)
    p.save(os.path.join(OUT_DIR, "palette_trns.png"), transparency=3)


def main():
    write_images()
    files = ["paths/rgba_exif6.png", "paths/la_exif3.png", "paths/palette_trns.png", "img_d_rgba_64x96.png",
             "jpeg/exif_rotate_90_cw.jpg", "jpeg/exif_transpose.jpg"]
    tensors = {}
    for f in files:
        path = os.path.join(ROOT, "tests/data/images", f)
        tensors["string." + f] = np.ascontiguousarray(np.array(load_image(path)))
        tensors["pil." + f] = np.ascontiguousarray(convert_to_rgb(Image.open(path), return_numpy=True))
    save_file(tensors, GOLDEN)
    for k, v in tensors.items():
        print(k, v.shape)


if __name__ == "__main__":
    main()
