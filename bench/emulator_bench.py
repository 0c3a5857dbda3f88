"""Benchmark of the cvspec emulator, measured through the official SDK on loopback.

Starts ``cvspec emulator serve`` in its own process (fresh data directory, S0, no TPS
limit) and measures:

* upload throughput: CreateImagesFromFiles in batches of 64 JPEGs of ~50 KB;
* training time for 1,000 images (4 tags x 250), from TrainProject to Completed, with a
  cold feature cache and again with a warm one (forceTrain);
* prediction latency of ClassifyImage (stored) and ClassifyImageWithNoStore, p50 / p95;
* the emulator process's peak RSS (VmHWM).

Usage: python bench/emulator_bench.py [--upload-batches 20] [--predictions 200] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch,
    ImageFileCreateEntry,
)
from msrest.authentication import ApiKeyCredentials
from PIL import Image

BATCH = 64
COLOURS = [(200, 40, 40), (40, 170, 60), (40, 60, 200), (210, 200, 50)]


def make_jpeg(rng: np.random.Generator, label: int, side: int = 320) -> bytes:
    """A ~50 KB JPEG: a class colour, a class stripe direction, and noise."""
    base = np.zeros((side, side, 3), np.float32) + np.array(COLOURS[label % 4], np.float32)
    ramp = np.linspace(-40, 40, side, dtype=np.float32)
    stripes = ramp[None, :, None] if label % 2 else ramp[:, None, None]
    noise = rng.normal(0, 30, (side, side, 3)).astype(np.float32)
    pixels = np.clip(base + stripes + noise, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=85)
    return out.getvalue()


def start_server(data_dir: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    command = [
        sys.executable,
        "-c",
        "from cvspec.emulator.command import emulator; emulator()",
        "serve",
        "--data",
        str(data_dir),
        "--no-tps-limit",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CVSPEC_EMULATOR_")}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    settings: dict[str, str] = {}
    while len(settings) < 5:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the emulator exited before printing its settings")
        name, _, value = line.strip().partition("=")
        settings[name] = value.strip("'")
    return process, settings


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def upload_all(
    trainer: CustomVisionTrainingClient, project_id: str, images: list[tuple[bytes, str]]
) -> float:
    """Upload (data, tag id) pairs in batches of 64; returns the seconds spent."""
    started = time.perf_counter()
    for start in range(0, len(images), BATCH):
        chunk = images[start : start + BATCH]
        entries = [
            ImageFileCreateEntry(name=f"{start + i}.jpg", contents=bytearray(data), tag_ids=[tag])
            for i, (data, tag) in enumerate(chunk)
        ]
        summary = trainer.create_images_from_files(project_id, ImageFileCreateBatch(images=entries))
        assert summary.is_batch_successful, {i.status for i in summary.images}
    return time.perf_counter() - started


def bench_upload(trainer: CustomVisionTrainingClient, batches: int) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    project = trainer.create_project("bench-upload")
    tag = trainer.create_tag(project.id, "t")
    images = [(make_jpeg(rng, i % 4), tag.id) for i in range(batches * BATCH)]
    mean_kb = statistics.mean(len(d) for d, _ in images) / 1024
    seconds = upload_all(trainer, project.id, images)
    trainer.delete_project(project.id)
    return {
        "images": len(images),
        "mean_image_kb": round(mean_kb, 1),
        "seconds": round(seconds, 2),
        "images_per_second": round(len(images) / seconds, 1),
    }


def wait_completed(trainer: CustomVisionTrainingClient, project_id: str, iteration_id: str) -> str:
    while True:
        status = str(trainer.get_iteration(project_id, iteration_id).status)
        if status != "Training":
            return status
        time.sleep(0.05)


def bench_training(
    trainer: CustomVisionTrainingClient, count: int
) -> tuple[dict[str, Any], str, str]:
    rng = np.random.default_rng(2)
    project = trainer.create_project("bench-train", classification_type="Multiclass")
    tags = [trainer.create_tag(project.id, f"class{i}").id for i in range(4)]
    images = [(make_jpeg(rng, i % 4), tags[i % 4]) for i in range(count)]
    upload_all(trainer, project.id, images)
    timings = {}
    for label, force in (("cold_feature_cache", False), ("warm_feature_cache", True)):
        started = time.perf_counter()
        iteration = trainer.train_project(project.id, force_train=force)
        status = wait_completed(trainer, project.id, iteration.id)
        timings[label] = round(time.perf_counter() - started, 2)
        assert status == "Completed", status
    perf = trainer.get_iteration_performance(project.id, iteration.id, threshold=0.5)
    result = {
        "images": count,
        "tags": len(tags),
        "seconds": timings,
        "cross_validated_precision": round(perf.precision, 3),
        "cross_validated_recall": round(perf.recall, 3),
    }
    return result, project.id, iteration.id


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def bench_prediction(
    predictor: CustomVisionPredictionClient, project_id: str, name: str, count: int
) -> dict[str, Any]:
    rng = np.random.default_rng(3)
    images = [make_jpeg(rng, i % 4) for i in range(count)]
    results = {}
    for label, call in (
        ("classify_image", predictor.classify_image),
        ("classify_image_with_no_store", predictor.classify_image_with_no_store),
    ):
        call(project_id, name, io.BytesIO(images[0]))  # warm-up (model load)
        latencies = []
        for data in images:
            started = time.perf_counter()
            call(project_id, name, io.BytesIO(data))
            latencies.append((time.perf_counter() - started) * 1000)
        results[label] = {
            "requests": count,
            "p50_ms": round(percentile(latencies, 50), 2),
            "p95_ms": round(percentile(latencies, 95), 2),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--upload-batches", type=int, default=20)
    parser.add_argument("--training-images", type=int, default=1000)
    parser.add_argument("--predictions", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cvspec-bench-") as tmp:
        process, env = start_server(Path(tmp))
        try:
            trainer = CustomVisionTrainingClient(
                env["VISION_TRAINING_ENDPOINT"],
                ApiKeyCredentials(in_headers={"Training-key": env["VISION_TRAINING_KEY"]}),
            )
            predictor = CustomVisionPredictionClient(
                env["VISION_PREDICTION_ENDPOINT"],
                ApiKeyCredentials(in_headers={"Prediction-key": env["VISION_PREDICTION_KEY"]}),
            )
            report: dict[str, Any] = {"cpus": os.cpu_count()}
            report["upload"] = bench_upload(trainer, args.upload_batches)
            report["training"], project_id, iteration_id = bench_training(
                trainer, args.training_images
            )
            trainer.publish_iteration(
                project_id, iteration_id, "bench", env["VISION_PREDICTION_RESOURCE_ID"]
            )
            report["prediction"] = bench_prediction(
                predictor, project_id, "bench", args.predictions
            )
            report["emulator_peak_rss_mb"] = round(peak_rss_mb(process.pid), 1)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    up, tr, pr = report["upload"], report["training"], report["prediction"]
    print(
        f"upload: {up['images']} images of {up['mean_image_kb']} KB in {up['seconds']} s "
        f"= {up['images_per_second']} images/s"
    )
    print(
        f"training {tr['images']} images: {tr['seconds']['cold_feature_cache']} s cold, "
        f"{tr['seconds']['warm_feature_cache']} s warm "
        f"(precision {tr['cross_validated_precision']}, recall {tr['cross_validated_recall']})"
    )
    for label, stats in pr.items():
        print(f"{label}: p50 {stats['p50_ms']} ms, p95 {stats['p95_ms']} ms")
    print(f"emulator peak RSS: {report['emulator_peak_rss_mb']} MB")


if __name__ == "__main__":
    main()
