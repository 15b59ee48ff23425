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


# Training pages for the OCR codec (``ocr-text``) differ from the evaluation pages above in every
# respect a codec could overfit to: other typefaces (GNU FreeFont, Carlito, Caladea and the URW base-35
# families: Debian's fonts-freefont-ttf, fonts-crosextra-carlito, fonts-crosextra-caladea and
# fonts-urw-base35; none of DejaVu or Liberation), other text (the licence texts Debian ships in
# /usr/share/common-licenses plus random numbers and codes, never ``text/corpus.txt``), sizes drawn from
# 13-40 px instead of six fixed sizes, and backgrounds and ink colours drawn at random per page.
TRAIN_FONT_GLOBS = ("/usr/share/fonts/truetype/freefont/Free*.ttf", "/usr/share/fonts/truetype/crosextra/*.ttf",
                    "/usr/share/fonts/opentype/urw-base35/*.otf")
TRAIN_TEXT_DIR = Path("/usr/share/common-licenses")
TRAIN_TEXT_FILES = ("Apache-2.0", "GPL-3", "LGPL-2.1", "MPL-2.0", "GFDL-1.3", "Artistic", "CC0-1.0")
_SYMBOL_FONTS = ("StandardSymbolsPS", "D050000L", "Z003")  # symbol and dingbat faces draw no Latin text


def training_fonts() -> list[Path]:
    """The training-page fonts found on this system (disjoint from ``FONT_FILES``), in a fixed order."""
    import glob

    found = sorted(Path(p) for pattern in TRAIN_FONT_GLOBS for p in glob.glob(pattern))
    return [p for p in found if not p.name.startswith(_SYMBOL_FONTS) and p.name not in FONT_FILES]


def training_words() -> list[str]:
    """The words of the training text (Debian's licence texts), in file order."""
    words: list[str] = []
    for name in TRAIN_TEXT_FILES:
        path = TRAIN_TEXT_DIR / name
        if path.is_file():
            words += path.read_text(encoding="utf-8", errors="replace").split()
    if not words:
        raise MissingDependencyError(f"no training text found in {TRAIN_TEXT_DIR} (Debian's base-files)")
    return words


def _random_token(rng: np.random.Generator) -> str:
    """A number, date, amount or code: the digits and symbols licence texts rarely contain."""
    kind = int(rng.integers(0, 4))
    if kind == 0:
        return f"{rng.integers(0, 100000):,}"
    if kind == 1:
        return f"{rng.integers(1, 29)}/{rng.integers(1, 13)}/{rng.integers(1900, 2100)}"
    if kind == 2:
        return f"${rng.integers(0, 10000)}.{rng.integers(0, 100):02d}"
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    return "".join(letters[int(i)] for i in rng.integers(0, len(letters), int(rng.integers(3, 9))))


def _training_background(width: int, height: int, rng: np.random.Generator) -> tuple[Image.Image, tuple]:
    """A random light background (flat, tinted, grainy, blotchy or graded) and a dark ink colour."""
    base = rng.uniform(205, 255, 3).astype(np.float32)
    img = np.broadcast_to(base, (height, width, 3)).astype(np.float32)
    if rng.random() < 0.4:  # a linear grade in a random direction
        other = rng.uniform(185, 255, 3).astype(np.float32)
        angle = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        t = (np.cos(angle) * xx / width + np.sin(angle) * yy / height)
        t = ((t - t.min()) / max(1e-6, float(t.max() - t.min())))[..., None]
        img = img * (1 - t) + other * t
    if rng.random() < 0.5:  # grain
        img = img + rng.normal(0, rng.uniform(1, 9), (height, width, 1)).astype(np.float32)
    if rng.random() < 0.4:  # soft blotches
        cell = int(rng.integers(20, 80))
        coarse = rng.normal(0, rng.uniform(2, 8), (max(2, height // cell), max(2, width // cell))).astype(np.float32)
        img = img + np.asarray(Image.fromarray(coarse, mode="F").resize((width, height), Image.BICUBIC))[..., None]
    ink = tuple(int(v) for v in rng.uniform(0, 120, 3))
    return Image.fromarray(img.clip(0, 255).astype(np.uint8)), ink


def render_training_page(seed: int, width: int = 1024, height: int = 1280, fonts: list[Path] | None = None,
                         words: list[str] | None = None) -> tuple[np.ndarray, str]:
    """One training page for the OCR codec: (uint8 RGB image, its text, one line per rendered line)."""
    fonts = fonts if fonts is not None else training_fonts()
    if not fonts:
        raise MissingDependencyError("no training fonts found: install Debian's fonts-freefont-ttf "
                                     "fonts-crosextra-carlito fonts-crosextra-caladea fonts-urw-base35")
    words = words if words is not None else training_words()
    rng = np.random.default_rng(10_000_019 + seed)
    page, ink = _training_background(width, height, rng)
    draw = ImageDraw.Draw(page)
    start = int(rng.integers(0, len(words)))
    margin = int(rng.integers(20, 120))
    y, truth = int(rng.integers(20, 120)), []
    while True:  # paragraphs until the page is full
        font = ImageFont.truetype(str(fonts[int(rng.integers(0, len(fonts)))]), int(rng.integers(13, 41)))
        size = font.size
        block = []
        for _ in range(int(rng.integers(10, 80))):
            block.append(_random_token(rng) if rng.random() < 0.08 else words[start % len(words)])
            start += 1
        line_height = int(size * rng.uniform(1.15, 1.8))
        lines = _wrap(draw, block, font, width - 2 * margin)
        colour = ink if rng.random() < 0.8 else tuple(int(v) for v in rng.uniform(0, 160, 3))
        indent = int(rng.integers(0, 60))
        for line in lines:  # the page ends inside a paragraph, as a real page does
            if y + line_height > height - 20:
                return np.asarray(page), "\n".join(truth) + "\n"
            draw.text((margin + indent, y), line, fill=colour, font=font)
            truth.append(line)
            y += line_height
            indent = 0
        y += int(size * rng.uniform(0.3, 1.5))
    return np.asarray(page), "\n".join(truth) + "\n"


def generate_training_pages(out_dir: str | Path, count: int = 120, seed: int = 0, width: int = 1024,
                            height: int = 1280) -> list[Path]:
    """Write ``count`` training pages (``train-NNNN.png`` + ``.txt``) into ``out_dir``; returns the PNGs."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fonts, words = training_fonts(), training_words()
    paths = []
    for i in range(count):
        image, text = render_training_page(seed * 100_000 + i, width, height, fonts, words)
        png = out / f"train-{i:04d}.png"
        Image.fromarray(image).save(png, optimize=False)
        png.with_suffix(".txt").write_text(text, encoding="utf-8")
        paths.append(png)
    return paths


def text_patches(photos: list[np.ndarray], count: int, seed: int, fonts: list[Path], words: list[str],
                 size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A balanced text/no-text set: (``count`` uint8 RGB patches (count, size, size, 3), labels 1 = text).

    Each patch is a crop of a random photo (side 1-3x ``size``, resized to ``size``); half of them get
    one to three words drawn over it in a random font of ``fonts`` (9-28 px), dark or light against the
    local background, partly transparent, anywhere from fully inside to half outside the patch. The
    photos themselves may hold a little natural text (signs), which stays labelled "no text".
    """
    if not fonts:
        raise MissingDependencyError("no fonts for the text patches: install Debian's fonts-dejavu-core "
                                     "fonts-liberation2 (evaluation) and fonts-freefont-ttf (training)")
    rng = np.random.default_rng(20_000_003 + seed)
    labels = np.zeros(count, np.uint8)
    labels[rng.permutation(count)[: count // 2]] = 1
    out = np.empty((count, size, size, 3), np.uint8)
    for i in range(count):
        photo = photos[int(rng.integers(0, len(photos)))]
        h, w = photo.shape[:2]
        side = int(rng.integers(size, min(3 * size, h, w) + 1))
        y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        patch = Image.fromarray(photo[y0:y0 + side, x0:x0 + side]).resize((size, size), Image.LANCZOS)
        if labels[i]:
            font = ImageFont.truetype(str(fonts[int(rng.integers(0, len(fonts)))]), int(rng.integers(9, 29)))
            start = int(rng.integers(0, len(words)))
            text = " ".join(words[(start + k) % len(words)] for k in range(int(rng.integers(1, 4))))
            draw = ImageDraw.Draw(patch)
            left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
            tw, th = right - left, bottom - top
            x = int(rng.integers(-tw // 2, max(1 - tw // 2, size - tw // 2))) - left
            y = int(rng.integers(-th // 4, max(1 - th // 4, size - 3 * th // 4))) - top
            luma = float(np.asarray(patch.convert("L"), np.float32).mean())
            ink = rng.uniform(0, 70, 3) if luma > 128 else rng.uniform(185, 255, 3)
            if rng.random() < 0.2:
                ink = rng.uniform(0, 255, 3)
            layer = Image.new("RGBA", patch.size, (0, 0, 0, 0))
            alpha = int(rng.integers(150, 256))
            ImageDraw.Draw(layer).text((x, y), text, font=font, fill=(*[int(v) for v in ink], alpha))
            patch = Image.alpha_composite(patch.convert("RGBA"), layer).convert("RGB")
        out[i] = np.asarray(patch)
    return out, labels
