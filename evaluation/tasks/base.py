"""The task plug-in interface of ``ncodec perception``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Item:
    """One input of a task: an image (uint8, (H, W) or (H, W, 3)) and its ground truth (None when the
    task scores against its own predictions on the original, as face detection does)."""

    name: str
    image: np.ndarray
    target: Any = None
    info: dict[str, Any] = field(default_factory=dict)


class Task(ABC):
    """A downstream task. Subclasses set ``name``, ``metric`` and ``higher_is_better`` and implement
    ``items``, ``predict``, ``score`` and ``aggregate``; ``describe`` says which model ran."""

    name = "task"
    metric = "metric"
    higher_is_better = True
    note = ""

    @abstractmethod
    def items(self, data: str) -> list[Item]:
        """The task's inputs read from ``data`` (a folder, or a dataset the task knows)."""

    @abstractmethod
    def predict(self, image: np.ndarray) -> Any:
        """The model's output on one (original or decoded) image."""

    def target(self, item: Item, original_prediction: Any) -> Any:
        """What predictions are scored against: the item's ground truth by default."""
        return item.target

    @abstractmethod
    def score(self, prediction: Any, target: Any) -> dict[str, float]:
        """Per-item sufficient statistics (e.g. edits and characters), summed by ``aggregate``."""

    @abstractmethod
    def aggregate(self, scores: list[dict[str, float]]) -> float:
        """The task metric over many items from their ``score`` dicts."""

    def record(self, prediction: Any) -> dict[str, Any]:
        """What of a prediction goes into the per-item records (e.g. the recognised text), so results can
        be re-scored without re-running the model."""
        return {}

    def aggregates(self, scores: list[dict[str, float]]) -> dict[str, float]:
        """Every metric the task reports over many items (the main one first)."""
        return {self.metric: self.aggregate(scores)}

    def describe(self) -> dict[str, Any]:
        return {"task": self.name, "metric": self.metric, "higher_is_better": self.higher_is_better}
