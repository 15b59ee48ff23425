"""Reproducible OCR test pages: real English text (``text/corpus.txt``, public-domain works) rendered
into full-resolution pages with several fonts, sizes, colours and backgrounds.

Each page is a PNG plus a ``.txt`` file with its ground truth (one line per rendered line). The same
seed, fonts and Pillow version give the same pages. Fonts are read from the system (Debian's
``fonts-dejavu-core`` and ``fonts-liberation2``); a clear error names them when none is found.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from ncodec.errors import MissingDependencyError

CORPUS = Path(__file__).resolve().parent / "text" / "corpus.txt"
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/liberation2",
             "/usr/share/fonts/truetype/liberation")
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf",
              "LiberationSerif-Regular.ttf", "LiberationSans-Regular.ttf", "LiberationMono-Regular.ttf",
              "LiberationSerif-Italic.ttf")
BACKGROUNDS = ("white", "paper", "gradient", "tinted")


def available_fonts() -> list[Path]:
    """The page fonts found on this system, in a fixed order."""
    found = []
    for name in FONT_FILES:
        for folder in FONT_DIRS:
            if (Path(folder) / name).is_file():
                found.append(Path(folder) / name)
                break
    return found


def _background(kind: str, width: int, height: int, rng: np.random.Generator) -> tuple[Image.Image, tuple]:
    """(background image, text colour)."""
    if kind == "white":
        return Image.new("RGB", (width, height), (255, 255, 255)), (0, 0, 0)
    if kind == "paper":  # warm paper with fine grain and soft blotches
        base = np.array([238, 230, 212], dtype=np.float32)
        grain = rng.normal(0, 6, (height, width, 1)).astype(np.float32)
        coarse = Image.fromarray(rng.normal(0, 5, (height // 40, width // 40)).astype(np.float32), mode="F")
        blotch = np.asarray(coarse.resize((width, height), Image.BICUBIC), dtype=np.float32)[..., None]
        return Image.fromarray((base + grain + blotch).clip(0, 255).astype(np.uint8)), (40, 30, 20)
    if kind == "gradient":
        t = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
        top, bottom = np.array([250, 250, 255], np.float32), np.array([200, 214, 232], np.float32)
        img = np.broadcast_to(top * (1 - t) + bottom * t, (height, width, 3))
        return Image.fromarray(img.astype(np.uint8)), (20, 30, 90)
    hue = rng.integers(0, 3)
    tint = [(226, 240, 226), (240, 228, 236), (252, 244, 214)][hue]
    img = Image.new("RGB", (width, height), tint).filter(ImageFilter.GaussianBlur(1))
    return img, [(30, 80, 30), (110, 20, 60), (60, 50, 0)][hue]


def _wrap(draw: ImageDraw.ImageDraw, words: list[str], font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines, current = [], ""
    for word in words:
        trial = f"{current} {word}" if current else word
        if draw.textlength(trial, font=font) <= width or not current:
            current = trial
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines


def render_page(seed: int, width: int = 1200, height: int = 1600, fonts: list[Path] | None = None,
                chars: int = 1400) -> tuple[np.ndarray, str]:
    """One page: (uint8 RGB image, ground-truth text with one line per rendered line)."""
    fonts = fonts if fonts is not None else available_fonts()
    if not fonts:
        raise MissingDependencyError("no page fonts found: install Debian's fonts-dejavu-core and fonts-liberation2")
    rng = np.random.default_rng(seed)
    words = CORPUS.read_text(encoding="utf-8").split()
    start = int(rng.integers(0, len(words)))
    kind = BACKGROUNDS[seed % len(BACKGROUNDS)]
    page, colour = _background(kind, width, height, rng)
    draw = ImageDraw.Draw(page)
    margin, y, truth, used = 80, 80, [], 0
    while used < chars:
        font_path = fonts[int(rng.integers(0, len(fonts)))]
        size = int(rng.choice([18, 20, 22, 24, 28, 32]))
        font = ImageFont.truetype(str(font_path), size)
        count = int(rng.integers(25, 60))
        block = [words[(start + i) % len(words)] for i in range(count)]
        start += count
        line_height = int(size * 1.45)
        lines = _wrap(draw, block, font, width - 2 * margin)
        if y + line_height * len(lines) > height - margin:
            break
        for line in lines:
            draw.text((margin, y), line, fill=colour, font=font)
            truth.append(line)
            used += len(line)
            y += line_height
        y += int(size * 0.9)
    return np.asarray(page), "\n".join(truth) + "\n"


def generate_pages(out_dir: str | Path, count: int = 10, seed: int = 0, width: int = 1200,
                   height: int = 1600) -> list[Path]:
    """Write ``count`` pages (``page-NN.png`` + ``page-NN.txt``) into ``out_dir``; returns the PNG paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fonts = available_fonts()
    paths = []
    for i in range(count):
        image, text = render_page(seed * 1000 + i, width, height, fonts)
        png = out / f"page-{i:02d}.png"
        Image.fromarray(image).save(png, optimize=False)
        png.with_suffix(".txt").write_text(text, encoding="utf-8")
        paths.append(png)
    return paths
