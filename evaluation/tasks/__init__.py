"""Machine-perception tasks for ``ncodec perception``: each declares how it loads its model, which items
it reads, how it predicts and how it scores (see ``base.Task``)."""

from __future__ import annotations

from typing import Any

from ncodec.errors import UnsupportedInputError
from ncodec.evaluation.tasks.base import Item, Task

TASK_NAMES = ("ocr", "classify", "faces")


def get_task(name: str, **options: Any) -> Task:
    """A task by name; options are the task's own (e.g. ``engine`` for OCR)."""
    if name == "ocr":
        from ncodec.evaluation.tasks.ocr import OcrTask

        return OcrTask(**options)
    if name == "classify":
        from ncodec.evaluation.tasks.classify import ClassifyTask

        return ClassifyTask(**options)
    if name == "faces":
        from ncodec.evaluation.tasks.faces import FaceTask

        return FaceTask(**options)
    raise UnsupportedInputError(f"unknown task {name!r}; known: {', '.join(TASK_NAMES)}")


__all__ = ["Item", "Task", "TASK_NAMES", "get_task"]
