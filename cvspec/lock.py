"""The apply lock: one apply at a time per project, held in the service itself.

There is no state file, so the lock lives in the project: a tag named `cvspec.lock`
(cvspec.reserved), whose description says who holds it and until when:

    cvspec lock run=3f2a... holder=ci@runner-12 pid=4242 since=2026-11-30T16:40:00Z
    expires=2026-11-30T16:45:00Z

Taking it is one CreateTag: the service refuses a second tag of the same name
(BadRequestTagNameNotUnique), so of two runs exactly one gets it. That is the only atomic
primitive the Training API offers; a read-modify-write of the project's description is not
one. While it is held, a heartbeat thread pushes `expires` forward (UpdateTag, every third of
the TTL), so a long training keeps it, and a killed run's lock expires TTL seconds after its
last heartbeat. Another run that finds an expired lock deletes that tag (by its id, so that
of two such runs only one can succeed) and takes its own. Releasing deletes the tag; `cvspec
force-unlock` deletes it too. The live reader never shows the tag (cvspec.live), so no plan
touches, counts or trains it.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cvspec.errors import CvspecError, ServiceError
from cvspec.live import find_project
from cvspec.reserved import LOCK_TAG, is_reserved_tag, split_owner
from cvspec.sdk import call
from cvspec.service import Service

ENV_TTL = "CVSPEC_LOCK_TTL"
DEFAULT_TTL = 300.0  # seconds without a heartbeat before a lock is taken as abandoned
POLL = 1.0  # seconds between two attempts while waiting
_FIELD = re.compile(r"(\w+)=(\S+)")

Say = Callable[[str], None]


class LockError(CvspecError):
    """The project's lock is held by another run (or was lost while applying)."""


@dataclass(frozen=True)
class LockInfo:
    """A lock as its tag describes it."""

    tag_id: str
    run: str  # the LOCK_ID force-unlock takes
    holder: str
    pid: str
    since: str
    expires: datetime | None  # None: not a cvspec lock description (never expires)
    machine: str = ""  # where `pid` runs (see machine_id); "" unknown

    def expired(self, now: datetime) -> bool:
        return self.expires is not None and self.expires <= now

    def dead(self) -> bool:
        """Held by a process of this very machine that is no longer running."""
        return bool(self.machine) and self.machine == machine_id() and not _alive(self.pid)

    def describe(self) -> str:
        expiry = _iso(self.expires) if self.expires else "never"
        return (
            f"{self.holder} (pid {self.pid}, lock ID {self.run}, since {self.since}, "
            f"expires {expiry} unless renewed)"
        )


def lock_ttl() -> float:
    """The lock's time to live in seconds (CVSPEC_LOCK_TTL, default 300)."""
    raw = os.environ.get(ENV_TTL, "").strip()
    try:
        return max(1.0, float(raw)) if raw else DEFAULT_TTL
    except ValueError:
        raise CvspecError(f"{ENV_TTL} must be a number of seconds, not {raw!r}") from None


def parse_duration(text: str) -> float:
    """`0`, `30`, `30s`, `5m`, `1h` -> seconds (Terraform's -lock-timeout style)."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if found is None:
        raise CvspecError(f"--lock-timeout: expected a duration like 0s, 30s, 5m, not {text!r}")
    return float(found[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[found[2]]


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def machine_id() -> str:
    """Who can see the holder's pid: the host's boot id and this process's pid namespace
    (two containers on one host differ), or CVSPEC_LOCK_MACHINE; "" where unknown."""
    override = os.environ.get("CVSPEC_LOCK_MACHINE", "").strip()
    if override:
        return override.replace(" ", "_")
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return hashlib.sha256(f"{boot} {namespace}".encode()).hexdigest()[:16]


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError, OSError):
        return True  # not ours to signal, or not a pid: take it as running
    try:  # a killed process its parent has not reaped yet is a zombie: gone
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _holder() -> str:
    override = os.environ.get("CVSPEC_LOCK_HOLDER", "").strip()
    if override:
        return override.replace(" ", "_")
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    where = f"{user}@{socket.gethostname()}"
    for name, label in (("GITHUB_RUN_ID", "github-run"), ("BUILD_BUILDID", "azure-build")):
        if os.environ.get(name):
            where += f",{label}={os.environ[name]}"
    return where.replace(" ", "_")


def describe_lock(run: str, holder: str, since: datetime, expires: datetime) -> str:
    return (
        f"cvspec lock run={run} holder={holder} pid={os.getpid()} "
        f"since={_iso(since)} expires={_iso(expires)} machine={machine_id() or '-'}"
    )


def parse_lock(tag_id: str, description: str) -> LockInfo:
    fields = dict(_FIELD.findall(description or ""))
    expires: datetime | None = None
    try:
        expires = datetime.strptime(fields.get("expires", ""), "%Y-%m-%dT%H:%M:%SZ")
        expires = expires.replace(tzinfo=UTC)
    except ValueError:
        expires = None
    return LockInfo(
        tag_id=tag_id,
        run=fields.get("run", tag_id),
        holder=fields.get("holder", "an unknown holder"),
        pid=fields.get("pid", "?"),
        since=fields.get("since", "?"),
        expires=expires,
        machine=fields.get("machine", "").strip("-"),
    )


def read_lock(service: Service, project_id: str) -> LockInfo | None:
    """The project's lock, or None when nobody holds it."""
    for tag in call(service.training.get_tags, project_id):
        if is_reserved_tag(tag.name):
            return parse_lock(tag.id, tag.description or "")
    return None


def _delete_tag(service: Service, project_id: str, tag_id: str) -> None:
    try:
        call(service.training.delete_tag, project_id, tag_id)
    except ServiceError as exc:
        if exc.code not in ("NotFoundTag", "NotFoundProject"):
            raise


class ProjectLock:
    """Hold the lock of one project for the duration of an apply.

    `acquire` takes it (waiting up to `timeout` seconds), `checkpoint` is called by apply
    before each operation (it takes the lock of a project the apply has just created, and
    stops the apply if the lock was lost), `release` gives it back."""

    def __init__(
        self, service: Service, project_name: str, timeout: float, say: Say, owner: str = ""
    ) -> None:
        self.service = service
        self.project_name = project_name
        self.owner = owner  # the plan's owner (set once planned): a new project must have it
        self.timeout = timeout
        self.say = say
        self.ttl = lock_ttl()
        self.run = str(uuid.uuid4())
        self.holder = _holder()
        self.since = _now()
        self.project_id: str | None = None
        self.tag_id: str | None = None
        self.waited = 0.0  # seconds spent waiting for another run's lock
        self.waited_for: LockInfo | None = None
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        # The training account is still to be created (a resources section): this run
        # creates the account, so no other run can hold a project of it.
        self.disabled = bool(getattr(service, "pending", False))

    # -- taking and giving back --------------------------------------------------------

    def acquire(self, project_id: str) -> None:
        """Take the project's lock, waiting for another run's up to `timeout` seconds.

        Raises:
            LockError: another run holds it (after `timeout`).
        """
        started = time.monotonic()
        announced = ""
        while True:
            if self._try_create(project_id):
                self.waited = time.monotonic() - started
                if announced:
                    self.say(
                        f"Acquired the lock of project {self.project_name!r} after "
                        f"waiting {self.waited:.1f}s."
                    )
                return
            held = read_lock(self.service, project_id)
            if held is None:
                continue  # released in between: try again at once
            if held.run == self.run:  # a retried CreateTag that had landed: it is ours
                self._hold(project_id, held.tag_id)
                return
            gone = held.dead()
            if gone or held.expired(_now()):
                why = "of a run that is no longer running" if gone else "expired"
                self.say(
                    f"Breaking the lock ({why}) of project {self.project_name!r}, "
                    f"held by {held.describe()}."
                )
                _delete_tag(self.service, project_id, held.tag_id)
                continue
            self.waited_for = held
            remaining = self.timeout - (time.monotonic() - started)
            if remaining <= 0:
                raise LockError(self._refusal(held))
            if held.run != announced:
                announced = held.run
                self.say(
                    f"Waiting for the lock of project {self.project_name!r}, held by "
                    f"{held.describe()}..."
                )
            time.sleep(min(POLL, remaining))

    def _try_create(self, project_id: str) -> bool:
        expires = _now() + timedelta(seconds=self.ttl)
        description = describe_lock(self.run, self.holder, self.since, expires)
        try:
            tag = call(
                self.service.training.create_tag, project_id, LOCK_TAG, description=description
            )
        except ServiceError as exc:
            if exc.code == "BadRequestTagNameNotUnique":
                return False
            if exc.code == "BadRequestExceedTagPerProjectLimit":
                raise LockError(
                    f"cannot lock project {self.project_name!r}: it is at the service's tag "
                    "limit, and the lock is a tag (docs/concurrency.md)"
                ) from None
            raise
        self._hold(project_id, tag.id)
        return True

    def _hold(self, project_id: str, tag_id: str) -> None:
        self.project_id, self.tag_id = project_id, tag_id
        self._start_heartbeat()

    def _refusal(self, held: LockInfo) -> str:
        waited = f" (waited {self.timeout:g}s)" if self.timeout > 0 else ""
        return (
            f"project {self.project_name!r} is locked by another apply{waited}: "
            f"{held.describe()}. Wait for it with --lock-timeout (e.g. 10m); if that run "
            f"is dead, the lock expires on its own, or release it now with "
            f"`cvspec force-unlock SPEC {held.run}`"
        )

    def release(self) -> None:
        """Give the lock back (nothing when not held).

        Raises:
            LockError: the lock was broken while held (expired or force-unlocked).
        """
        self._drop_heartbeat()
        if self.project_id is None or self.tag_id is None:
            return
        project_id, tag_id = self.project_id, self.tag_id
        self.project_id = self.tag_id = None
        if self._lost.is_set():
            raise LockError(self._lost_message())
        try:
            _delete_tag(self.service, project_id, tag_id)
        except ServiceError as exc:  # the work is done: a lock left behind only delays others
            self.say(
                f"Warning: could not release the lock of project {self.project_name!r} ({exc}); "
                f"it expires within {self.ttl:g}s, or run `cvspec force-unlock SPEC {self.run}`."
            )

    def forget(self) -> None:
        """The project was deleted (destroy), and its lock with it: nothing to release."""
        self._drop()

    def _lost_message(self) -> str:
        return (
            f"the lock of project {self.project_name!r} was released while this apply held "
            "it (force-unlock, or it expired): another run may have changed the project; "
            "run `cvspec plan` to see where it stands"
        )

    # -- during the apply --------------------------------------------------------------

    def checkpoint(self, project_id: str | None) -> None:
        """Before each operation: stop if the lock was lost; take the lock of a project
        this apply has just created (or found just created), which must still be as the
        plan saw it: empty, and not owned by another spec.

        Raises:
            LockError: the lock was lost, or another run filled the new project first.
        """
        if project_id is None or self.disabled:  # (None: a replaced project went, with its lock)
            return
        if project_id != self.project_id:
            self._drop()
            self.acquire(project_id)
            self._check_still_new(project_id)
        if self._lost.is_set():
            raise LockError(self._lost_message())

    def _drop(self) -> None:
        """Forget the lock of a project deleted by a replacement (it went with it)."""
        self._drop_heartbeat()
        self.project_id = self.tag_id = None

    def _drop_heartbeat(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
            self._beat = None

    def _check_still_new(self, project_id: str) -> None:
        client = self.service.training
        project = call(client.get_project, project_id)
        owner = split_owner(project.description or "")[1]
        # Every image cvspec uploads carries a tag, and training needs tags: a project
        # another apply started filling has tags (one call, where the rate limit counts).
        filled = [t for t in call(client.get_tags, project_id) if not is_reserved_tag(t.name)]
        if not filled and owner in (None, self.owner):
            return
        by = self.waited_for.holder if self.waited_for is not None else "another run"
        self.release()
        raise LockError(
            f"project {self.project_name!r} was created and changed by another apply ({by}, "
            f"owner {owner or 'none'}) while this one created it too: nothing else was done. "
            "Run `cvspec plan` again to see what is left"
        )

    # -- heartbeat -------------------------------------------------------------------

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._lost.clear()
        self._beat = threading.Thread(target=self._heartbeat, name="cvspec-lock", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        from azure.cognitiveservices.vision.customvision.training import models as m

        while not self._stop.wait(self.ttl / 3):
            project_id, tag_id = self.project_id, self.tag_id
            if project_id is None or tag_id is None:
                return
            expires = _now() + timedelta(seconds=self.ttl)
            tag = m.Tag(
                name=LOCK_TAG,
                description=describe_lock(self.run, self.holder, self.since, expires),
                type="Regular",
            )
            try:
                call(self.service.training.update_tag, project_id, tag_id, tag)
            except ServiceError as exc:
                if exc.code == "NotFoundTag":  # broken by force-unlock or by another run
                    self._lost.set()
                if exc.code in ("NotFoundTag", "NotFoundProject"):  # (a deleted project
                    return  # took its lock along: nobody can race on it)
            except Exception:  # a failed beat (transport) is retried at the next one
                continue


def force_unlock(service: Service, project_id: str, lock_id: str | None) -> LockInfo | None:
    """Delete the project's lock (only the one named `lock_id`, when given); the lock
    deleted, or None when there was none.

    Raises:
        LockError: the project's lock is not `lock_id`.
    """
    held = read_lock(service, project_id)
    if held is None:
        return None
    if lock_id is not None and lock_id not in (held.run, held.tag_id):
        raise LockError(
            f"the project's lock is {held.run}, not {lock_id}: held by {held.describe()}"
        )
    _delete_tag(service, project_id, held.tag_id)
    return held


@contextmanager
def hold_lock(
    service: Service, project_name: str, timeout: float, say: Say
) -> Iterator[ProjectLock]:
    """The project's lock, held for the block: taken at once when the project exists (else
    by `checkpoint` once apply created it) and released however the block ends."""
    lock = ProjectLock(service, project_name, timeout, say)
    project = None if lock.disabled else find_project(service, project_name)
    if project is not None:
        lock.acquire(project.id)
    try:
        yield lock
    except BaseException:
        with suppress(CvspecError):
            lock.release()
        raise
    lock.release()
