"""The emulated Custom Vision service: one object, one method per API operation (named
like the SDK's methods), state in a Store under the data directory.

Where the service's behaviour is not documented (``[UNCONFIRMED]`` in
shared/docs/service-behavior.md) the emulator makes these choices:

- names of projects and of a project's tags are unique case-insensitively. For projects this
  is a decision on weak evidence (issue 12): the Swagger's error enum has
  ``BadRequestProjectNameNotUnique`` (beside ``BadRequestTagNameNotUnique``), and no recording
  shows a clash either way. Against it, only circumstantial reports: Azure/LearnAI-Bootcamp
  issue 29 (2018) says a lab that always creates "My New Project" made a new project on each
  run until the project limit; Azure/azure-sdk-for-python issue 2800 (a maintainer) names the
  project limit as the cause of "Access Denied" on re-runs of a fixed-name quickstart;
  microsoft/Cognitive-CustomVision-Windows issue 16 reports "Bad Request" on every re-run,
  code not shown (the name or the limit). None shows an error body, all predate v3.x, and
  nothing says whether the current service compares names at all, so the emulator keeps the
  stricter rule. cvspec does not depend on it: it looks a project up by its exact name and
  refuses to plan, apply or destroy when several projects have it, listing their ids
  (cvspec/live.py ``_find_project``; tests/test_project_names.py makes that state by copying
  a row of the store, since no call of the emulator can), and a create refused as not unique
  because of a name differing in case is one clean error naming the other project;
- new projects are ``Multilabel`` unless told otherwise (as the recordings show);
- de-duplication is by the sha256 of the bytes among the project's workspace images, also
  within one batch; a duplicate answers ``OKDuplicate`` with the original image, adds the new
  tags to it, and makes the batch ``isBatchSuccessful: false`` / HTTP 207;
- a batch where no image is acceptable is refused whole: 400 ``BadRequestImageBatch`` "No
  valid image files" (a one-image request gets the image's own error code instead);
- a second regular tag on a multiclass image is refused at tagging time
  (``BadRequestImageTags``), for uploads and CreateImageTags alike;
- UpdateImageMetadata merges the given keys into the image's metadata; limits are the stricter
  10 pairs / 128-character keys / 256-character values;
- training needs at least 2 trained tags (one of them not negative) and 5 images for every
  trained tag; the error codes are the Multiclass/MultiLabel ClassificationTrainingValidation
  ones; "nothing changed" compares a fingerprint of the images, their tags and the settings
  with the latest Completed iteration;
- no ``New`` placeholder iteration is created, and iterations are never deleted automatically;
- a project with a published iteration cannot be deleted (``BadRequestIterationIsPublished``);
- publish names are 1-256 characters of letters, digits, space, ``_ . -``; ``overwrite=true``
  moves the name from the iteration holding it (which becomes unpublished);
- unpublishing leaves ``publishName`` as ``""`` (never-published iterations show ``null``);
- object-detection domains and operations answer ``BadRequestUnsupportedDomain`` /
  ``BadRequestOperationNotSupported``;
- requests are checked against the Swagger before any of this runs (validation.py): a missing
  required value answers ``BadRequestRequiredParamIsNull``, an id that is not a GUID (in the
  path too) ``BadRequestInvalidIds``, a wrong type, range or enum value ``BadRequestInvalid``,
  too many ids ``BadRequestExceededBatchSize``; an empty query value counts as absent, enum
  values match case-insensitively, unknown parameters and body properties are ignored (as
  ASP.NET model binding does), a PATCH body need not repeat required fields, ``skip`` must not
  be negative, export flavors must fit the platform (``BadRequestExportValidationFailed``) and
  QueryPredictions' orderBy, maxCount and thresholds (0..1, min <= max) answer
  ``BadRequestPredictionInvalidQueryParameters``;
- an ExportIteration is ``Exporting`` (``downloadUri`` empty, as in the Swagger's example) for
  0.3 s, then ``Done``; asking again meanwhile answers ``BadRequestExportAlreadyInProgress``;
  the download URL needs no key (a storage URL on the service) and serves a zip of
  ``labels.txt`` and the emulator's own model, whatever the platform;
- an unexpected internal error answers 500 ``ErrorUnknown`` "An internal error occurred." and
  keeps the connection open.
"""

from __future__ import annotations

import threading
from pathlib import Path

from cvspec.emulator.arm import Accounts
from cvspec.emulator.images import ImagesMixin
from cvspec.emulator.iterations import IterationsMixin
from cvspec.emulator.limits import TierLimits, tier_limits
from cvspec.emulator.predictions import PredictionsMixin
from cvspec.emulator.store import Store
from cvspec.emulator.trainer import FeatureCache, Trainer
from cvspec.emulator.transfer import TransferMixin


class Backend(TransferMixin, ImagesMixin, IterationsMixin, PredictionsMixin):
    """Training and Prediction APIs over one data directory."""

    def __init__(self, data_dir: Path, limits: TierLimits | None = None) -> None:
        super().__init__(Store(data_dir), limits or tier_limits("S0"))
        self.features = FeatureCache(self.store)
        self.trainer = Trainer(self.store, self.features)
        self.accounts = Accounts(self.store)  # Resource Manager's accounts (arm.py)
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
