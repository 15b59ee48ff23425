#!/usr/bin/env bash
# Install ncodec and everything it needs into ./.venv (Python 3.11, x86_64).
# torch/torchvision are pinned in the same pip command as compressai (see DESIGN.md): otherwise pip
# swaps in another torch build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
# System packages for `ncodec perception` (OCR engine, fonts for the test pages, Fashion-MNIST,
# OpenCV's GL runtime), the OCR codec's training pages (fonts unlike the test pages') and for open3d (libusb). Installed when this runs as root with apt; otherwise say what is missing:
# the perception tests that need them skip with that reason.
SYSTEM_PACKAGES="tesseract-ocr tesseract-ocr-eng dataset-fashion-mnist fonts-dejavu-core fonts-liberation2 fonts-freefont-ttf fonts-crosextra-carlito fonts-crosextra-caladea fonts-urw-base35 libgl1 libusb-1.0-0"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    if ! dpkg -s $SYSTEM_PACKAGES >/dev/null 2>&1; then
        { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends $SYSTEM_PACKAGES >/dev/null; } \
            || echo "warning: apt could not install $SYSTEM_PACKAGES; perception tests will skip"
    fi
else
    echo "note: not root or no apt-get; for ncodec perception install: $SYSTEM_PACKAGES"
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# PYTHONWARNINGS: setuptools' editable build warns about same-named folders in the working directory;
# the .pth below removes exactly that trap, so the warning is only noise for a newcomer.
PYTHONWARNINGS=ignore .venv/bin/python -m pip install --quiet -e ".[full,test,perception]" "torch==2.14.1" "torchvision==0.29.1" "compressai==1.2.8"
# The editable install maps ncodec.codecs -> codecs/ etc. through an import finder that Python asks
# only after its path search. Run from the folder that holds a clone named "ncodec", that search would
# take the clone as an empty namespace package ("module 'ncodec' has no attribute 'encode'"). This .pth
# (run at start-up, after setuptools' own) puts ncodec's finder first, so `import ncodec` works anywhere.
SITE="$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")"
echo "import sys; sys.meta_path[:] = sorted(sys.meta_path, key=lambda f: not str(getattr(f, '__module__', '')).startswith('__editable___ncodec'))" \
    > "$SITE/zz_ncodec_finder_first.pth"
.venv/bin/python -W ignore::FutureWarning -c "import ncodec, torch, compressai, constriction; print('ncodec', ncodec.__version__, 'torch', torch.__version__, 'ready')"
