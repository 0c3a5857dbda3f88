"""Values for the spec's `${NAME}` references from the command line, like Terraform's
`-var` and `-var-file`: `--var NAME=VALUE` (repeatable) and `--var-file FILE` (repeatable).

A var file is YAML when its name ends in `.yaml`, `.yml` or `.json` (a mapping of names to
scalars) and `.env` style otherwise (`NAME=VALUE` lines; blank lines and `#` comments are
skipped, an `export ` prefix is allowed, and a value in matching single or double quotes
loses them). Later sources win: the environment, then each var file in the order given, then
each `--var`. No message here ever repeats a value (a variable may hold a SAS token): errors
name the file, the line and the variable only. The values of variables whose name says they
are secret (KEY, SECRET, TOKEN, PASSWORD, SAS, SIG, CREDENTIAL) are masked as `***` in every
error message the command line prints (`redact`), should a spec check quote one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from cvspec.errors import CvspecError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD|SAS|SIG|CREDENTIAL", re.IGNORECASE)
_hidden: set[str] = set()  # values of secret-named variables, masked in error messages
_YAML_SUFFIXES = (".yaml", ".yml", ".json")


class VariableError(CvspecError):
    """A --var or --var-file that cannot be read (never quoting a value)."""


def parse_var(text: str) -> tuple[str, str]:
    """`NAME=VALUE` -> (NAME, VALUE); the value may be empty or contain `=`."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not _NAME.fullmatch(name):
        shown = name if _NAME.fullmatch(name) else "the argument"
        raise VariableError(f"--var: expected NAME=VALUE ({shown} has no valid NAME=)")
    return name, value


def read_var_file(path: Path) -> dict[str, str]:
    """The variables of one var file (YAML or .env style, by its name)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise VariableError(f"--var-file {path}: cannot read it: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise VariableError(f"--var-file {path}: not UTF-8 text") from None
    if path.suffix.lower() in _YAML_SUFFIXES:
        return _yaml_vars(path, text)
    return _env_vars(path, text)


def _yaml_vars(path: Path, text: str) -> dict[str, str]:
    import yaml  # only for YAML var files

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise VariableError(f"--var-file {path}{where}: not valid YAML") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise VariableError(f"--var-file {path}: expected a mapping of NAME: value")
    found: dict[str, str] = {}
    for name, value in data.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise VariableError(f"--var-file {path}: {name!r} is not a variable name")
        if isinstance(value, dict | list):
            raise VariableError(f"--var-file {path}: {name} must be a single value")
        found[name] = "" if value is None else _scalar(value)
    return found


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _env_vars(path: Path, text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not _NAME.fullmatch(name):
            raise VariableError(f"--var-file {path}:{number}: expected NAME=VALUE")
        found[name] = _unquote(value.strip())
    return found


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def variables(var_files: Iterable[Path], var_args: Iterable[str]) -> dict[str, str]:
    """The command line's variables: the var files in order, then each --var (later wins)."""
    found: dict[str, str] = {}
    for path in var_files:
        found.update(read_var_file(path))
    for text in var_args:
        name, value = parse_var(text)
        found[name] = value
    _hidden.update(v for n, v in found.items() if v and _SECRET_NAME.search(n))
    return found


def redact(text: str) -> str:
    """`text` with the values of secret-named variables replaced by `***`."""
    for value in sorted(_hidden, key=len, reverse=True):
        text = text.replace(value, "***")
    return text


def environment(
    var_files: Iterable[Path] = (),
    var_args: Iterable[str] = (),
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """What `${NAME}` reads: the environment with the command line's variables over it."""
    merged = dict(os.environ if base is None else base)
    merged.update(variables(var_files, var_args))
    return merged
