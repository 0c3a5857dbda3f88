"""Fetching images by URL (CreateImagesFromUrls, quick test and prediction by URL)."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

TIMEOUT_SECONDS = 10.0


def fetch_url(url: str, max_bytes: int) -> bytes | None:
    """The bytes at an http(s) URL, at most ``max_bytes`` of them; None when unreachable.

    Anything but http and https is refused (no file://, no data:), as a service would.
    """
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme.lower() not in ("http", "https") or not parsed.netloc:
        return None
    request = urllib.request.Request(url, headers={"User-Agent": "cvspec-emulator"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            data: bytes = response.read(max_bytes)
            return data
    except (urllib.error.URLError, OSError, ValueError):
        return None
