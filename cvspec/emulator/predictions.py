"""Prediction: the Prediction API's classify operations, the Training API's quick test and
stored predictions (query, delete)."""

from __future__ import annotations

import secrets
import sqlite3
import threading
from typing import Any

from cvspec.emulator import exceptions as exc
from cvspec.emulator.core import BackendCore
from cvspec.emulator.imaging import ImageProblem, inspect_image
from cvspec.emulator.models import new_id, now, parse_time, prediction_entries
from cvspec.emulator.store import dumps, loads
from cvspec.emulator.trainer import FeatureCache
from cvspec.emulator.urlfetch import fetch_url


class PredictionsMixin(BackendCore):
    features: FeatureCache
    _models: dict[str, bytes]
    _models_lock: threading.Lock

    # -- Prediction API ---------------------------------------------------------------

    def classify_image(
        self,
        project_id: str,
        published_name: str,
        data: bytes,
        resource_id: str | None,
        store: bool = True,
        application: str | None = None,
    ) -> dict[str, Any]:
        iteration = self._published(project_id, published_name, resource_id)
        return self._predict(iteration, data, store, application)

    def classify_image_url(
        self,
        project_id: str,
        published_name: str,
        url: str | None,
        resource_id: str | None,
        store: bool = True,
        application: str | None = None,
    ) -> dict[str, Any]:
        iteration = self._published(project_id, published_name, resource_id)
        return self._predict(iteration, self._fetch(url), store, application)

    def _published(
        self, project_id: str, published_name: str, resource_id: str | None
    ) -> sqlite3.Row:
        row = self.store.one(
            "SELECT * FROM iterations WHERE project_id = ? AND publish_name = ? "
            "AND lower(publish_resource_id) = lower(?)",
            (project_id.lower(), published_name, resource_id or ""),
        )
        if row is None or row["status"] != "Completed":
            raise exc.invalid_iteration()
        return row

    def _fetch(self, url: str | None) -> bytes:
        data = fetch_url(url or "", self.limits.prediction_image_bytes + 1)
        if data is None:
            raise exc.bad_request("BadRequestImageUrl", f"Unable to download image from {url}.")
        return data

    def _predict(
        self, iteration: sqlite3.Row, data: bytes, store: bool, application: str | None
    ) -> dict[str, Any]:
        from cvspec.emulator import learning

        try:
            info = inspect_image(data, self.limits, self.limits.prediction_image_bytes)
        except ImageProblem as problem:
            raise problem.as_error() from None
        probabilities = learning.predict(self._model(iteration), self.features.compute(data))
        # A tag renamed since training answers by its current name (the model knows tag ids).
        tags = {
            r["tag_id"]: (r["name"], r["type"])
            for r in self.store.all(
                "SELECT it.tag_id, COALESCE(t.name, it.name) AS name, it.type "
                "FROM iteration_tags it LEFT JOIN tags t ON t.id = it.tag_id "
                "WHERE it.iteration_id = ?",
                (iteration["id"],),
            )
        }
        result = {
            "id": new_id(),
            "project": iteration["project_id"],
            "iteration": iteration["id"],
            "created": now(),
            "predictions": prediction_entries(probabilities, tags),
        }
        if store:
            sha = self.store.blobs.put(data)
            with self.store.tx() as c:
                c.execute(
                    "INSERT INTO predictions VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        result["id"],
                        iteration["project_id"],
                        iteration["id"],
                        result["created"],
                        sha,
                        info.width,
                        info.height,
                        dumps(result["predictions"]),
                        application or "",
                        iteration["domain_id"],
                        self.store.next_seq("predictions"),
                    ),
                )
        return result

    def _model(self, iteration: sqlite3.Row) -> bytes:
        with self._models_lock:
            model = self._models.get(iteration["id"])
        if model is None:
            model = self.store.blobs.get(iteration["model_sha"])
            with self._models_lock:
                self._models[iteration["id"]] = model
        return model

    # -- quick test -------------------------------------------------------------------

    def quick_test_image(
        self, project_id: str, data: bytes, iteration_id: str | None = None, store: bool = True
    ) -> dict[str, Any]:
        return self._predict(
            self._quick_test_iteration(project_id, iteration_id), data, store, None
        )

    def quick_test_image_url(
        self, project_id: str, url: str | None, iteration_id: str | None = None, store: bool = True
    ) -> dict[str, Any]:
        iteration = self._quick_test_iteration(project_id, iteration_id)
        return self._predict(iteration, self._fetch(url), store, None)

    def _quick_test_iteration(self, project_id: str, iteration_id: str | None) -> sqlite3.Row:
        project = self._project(project_id)
        if iteration_id:
            row = self._iteration(project["id"], iteration_id)
            if row["status"] != "Completed":
                raise exc.bad_request(
                    "BadRequestIterationIsNotTrained", "The iteration is not trained."
                )
            return row
        latest = self.store.one(
            "SELECT * FROM iterations WHERE project_id = ? AND status = 'Completed' "
            "ORDER BY seq DESC LIMIT 1",
            (project["id"],),
        )
        if latest is None:
            raise exc.not_found(
                "NotFoundProjectDefaultIteration", "The project has no trained iteration."
            )
        return latest

    # -- stored predictions -----------------------------------------------------------

    def query_predictions(self, project_id: str, query: dict[str, Any]) -> dict[str, Any]:
        project = self._project(project_id)
        query = dict(query or {})
        tag_filters = query.get("tags") or []
        if len(tag_filters) > 2:
            raise exc.bad_request(
                "BadRequestPredictionTagsExceededCount", "At most 2 tags can be combined."
            )
        max_count = int(query.get("maxCount") or 0)
        offset = (
            int(query.get("continuation") or 0)
            if str(query.get("continuation") or "").isdigit()
            else 0
        )
        rows = self.store.all(
            "SELECT * FROM predictions WHERE project_id = ? ORDER BY seq", (project["id"],)
        )
        if (query.get("orderBy") or "Newest").lower() != "oldest":
            rows.reverse()
        matches = [r for r in rows if _matches(r, query, tag_filters)]
        page = matches[offset : offset + max_count] if max_count else matches[offset:]
        more = offset + len(page) < len(matches)
        token = {
            "session": query.get("session") or f"1:{secrets.randbelow(10**6)}",
            "continuation": str(offset + len(page)) if more else "",
            "maxCount": max_count,
            "orderBy": query.get("orderBy") or "Newest",
            "tags": tag_filters,
            "iterationId": query.get("iterationId"),
            "startTime": query.get("startTime"),
            "endTime": query.get("endTime"),
            "application": query.get("application") or "",
        }
        base = f"{self.public_url}/customvision/emulator/predictions/{project['id']}"
        results = [
            {
                "resizedImageUri": f"{base}/{r['id']}",
                "thumbnailUri": f"{base}/{r['id']}",
                "originalImageUri": f"{base}/{r['id']}",
                "domain": r["domain_id"],
                "id": r["id"],
                "project": r["project_id"],
                "iteration": r["iteration_id"],
                "created": r["created"],
                "predictions": loads(r["predictions"]),
            }
            for r in page
        ]
        return {"results": results, "token": token}

    def delete_prediction(self, project_id: str, ids: list[str]) -> None:
        if not ids:
            raise exc.bad_request("BadRequestPredictionIdsMissing", "No prediction ids given.")
        if len(ids) > self.limits.prediction_ids_per_call:
            raise exc.bad_request(
                "BadRequestPredictionIdsExceededCount",
                f"At most {self.limits.prediction_ids_per_call} prediction ids per call.",
            )
        with self.store.tx() as c:
            project = self._project(project_id)
            c.executemany(
                "DELETE FROM predictions WHERE id = ? AND project_id = ?",
                [(i, project["id"]) for i in ids],
            )

    def prediction_bytes(self, project_id: str, prediction_id: str) -> bytes:
        row = self.store.one(
            "SELECT sha256 FROM predictions WHERE id = ? AND project_id = ?",
            (prediction_id.lower(), project_id.lower()),
        )
        if row is None:
            raise exc.not_found("NotFound", "Prediction not found.")
        return self.store.blobs.get(row["sha256"])


def _matches(row: sqlite3.Row, query: dict[str, Any], tag_filters: list[dict[str, Any]]) -> bool:
    if query.get("iterationId") and row["iteration_id"] != str(query["iterationId"]).lower():
        return False
    if query.get("application") and row["application"] != query["application"]:
        return False
    created = parse_time(row["created"])
    if query.get("startTime") and created < parse_time(str(query["startTime"])):
        return False
    if query.get("endTime") and created > parse_time(str(query["endTime"])):
        return False
    if not tag_filters:
        return True
    probs = {p["tagId"]: p["probability"] for p in loads(row["predictions"])}
    for f in tag_filters:
        p = probs.get(str(f.get("id", "")).lower())
        if p is None:
            return False
        low = float(f.get("minThreshold") or 0.0)
        maximum = f.get("maxThreshold")
        high = 1.0 if maximum is None else float(maximum)
        if not low <= p <= high:
            return False
    return True
