"""The emulated Custom Vision service: one object, one method per API operation (named
like the SDK's methods), state in a Store under the data directory."""

from __future__ import annotations

import threading
from pathlib import Path

from cvspec.emulator.images import ImagesMixin
from cvspec.emulator.iterations import IterationsMixin
from cvspec.emulator.limits import TierLimits, tier_limits
from cvspec.emulator.predictions import PredictionsMixin
from cvspec.emulator.projects import ProjectsMixin
from cvspec.emulator.store import Store
from cvspec.emulator.trainer import FeatureCache, Trainer


class Backend(ProjectsMixin, ImagesMixin, IterationsMixin, PredictionsMixin):
    """Training and Prediction APIs over one data directory."""

    def __init__(self, data_dir: Path, limits: TierLimits | None = None) -> None:
        super().__init__(Store(data_dir), limits or tier_limits("S0"))
        self.features = FeatureCache(self.store)
        self.trainer = Trainer(self.store, self.features)
        self._models: dict[str, bytes] = {}
        self._models_lock = threading.Lock()

    def start(self) -> list[str]:
        """Resume trainings a previous process left unfinished; returns their ids."""
        return self.trainer.resume_interrupted()

    def close(self, grace_seconds: float = 0.0) -> None:
        """Stop the trainer (a training still running after the grace period is resumed at
        the next start) and close the database."""
        self.trainer.shutdown(grace_seconds)
        self.store.close()
