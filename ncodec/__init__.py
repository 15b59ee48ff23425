"""ncodec: learned neural codecs for images, video and 3D with deterministic bitstreams.

The public API (``encode``, ``decode``, ``info``, ``open``) is resolved lazily so that importing
``ncodec.errors`` from a layer never imports the CLI or the codecs.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["encode", "decode", "info", "open", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("encode", "decode", "info", "open"):
        from ncodec import api

        return getattr(api, name)
    raise AttributeError(f"module 'ncodec' has no attribute {name!r}")
