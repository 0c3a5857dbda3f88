"""Parse YAML into plain data and remember where each key and value was written."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import Composer, ComposerError
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

Loc = tuple[str | int, ...]
"""Path of a value in the document: mapping keys and sequence indexes."""

MAX_DEPTH = 64
"""Deepest nesting of lists and mappings (a spec needs 5): deeper documents are refused
before Python's recursion limit is reached."""
MAX_ALIAS_NODES = 10_000
"""Most nodes that aliases (`*name`) may add to the document once expanded: bounds the
time and memory of a "billion laughs" document, which is refused at the alias that crosses
it."""
MAX_NODES = 50_000
"""Most values (scalars, lists, mappings, keys) in a spec, aliases expanded: parsing costs
about 25 µs a node in pure Python, so this bounds a spec's parse to about a second. A spec
of 1 MiB (the file size limit) listing 12,000 image URLs has about 12,500 nodes."""

_NOT_TEXT = {
    "tag:yaml.org,2002:bool": "a boolean",
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
}


@dataclass(frozen=True)
class Position:
    """A 1-based line and column in the spec file."""

    line: int
    column: int


@dataclass
class Document:
    """Parsed YAML: the data, plus the position of every value and mapping key."""

    data: Any
    values: dict[Loc, Position] = field(default_factory=dict)
    keys: dict[Loc, Position] = field(default_factory=dict)
    duplicate_keys: list[tuple[Loc, int]] = field(default_factory=list)
    """Keys written twice in one mapping, with the line of their first occurrence."""
    unquoted: dict[Loc, tuple[str, str]] = field(default_factory=dict)
    """Unquoted scalars that YAML read as a boolean or a number: their text and what YAML
    made of them ("a boolean", "a number"), for hints such as quoting `no`."""
    unquoted_keys: dict[Loc, str] = field(default_factory=dict)
    """Unquoted mapping keys that YAML read as a boolean or a number, by their path in the
    data (ending with the key's value, e.g. False), with their text."""

    def position(self, loc: Loc, *, of_key: bool = False) -> Position:
        """Where `loc` was written; the nearest written ancestor if it was not."""
        if of_key and loc in self.keys:
            return self.keys[loc]
        while loc not in self.values and loc:
            loc = loc[:-1]
        return self.values.get(loc, Position(1, 1))


class YamlSyntaxError(Exception):
    """The text is not YAML; carries the position and the parser's message."""

    def __init__(self, position: Position, message: str) -> None:
        self.position = position
        self.message = message
        super().__init__(message)


def parse_yaml(text: str) -> Document:
    """Parse one YAML document. Raises YamlSyntaxError.

    libyaml reads the text when PyYAML has it; a text it refuses is read again by PyYAML's
    own parser, whose messages and positions the spec's errors use (libyaml words some
    differently, and refuses deep nesting at its own limit, past ours).
    """
    if _FastLoader is not None:
        try:
            return _parse(text, _FastLoader)
        except YamlSyntaxError:
            pass
    return _parse(text, _PythonLoader)


def _parse(text: str, kind: Callable[[str], Any]) -> Document:
    try:
        loader = kind(text)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(text, exc) from None
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc) from None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(text, exc) from None
    except yaml.YAMLError as exc:
        message = " ".join(str(exc).split())
        raise YamlSyntaxError(Position(1, 1), f"invalid YAML: {message}") from None
    finally:
        loader.dispose()
    doc = Document(data)
    if node is not None:
        _walk(node, (), doc, set())
    return doc


class _BoundedComposer(Composer):
    """PyYAML's composer, refusing deep nesting and large alias expansions while composing.

    It composes from the events of libyaml's parser (PyYAML's C extension, in its wheels)
    when present, which reads the text about 20 times faster than PyYAML's pure-Python
    scanner and parser and gives the same events and marks; composing stays in Python, so
    that each alias is counted where it is written and a refusal names that place.
    """

    def __init__(self) -> None:
        Composer.__init__(self)
        self._depth = 0
        self._expanded = 0  # nodes added by aliases so far
        self._nodes = 0  # nodes composed so far, aliases not expanded
        self._sizes: dict[int, int] = {}  # id(node) -> its node count with aliases expanded

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        mark = self.peek_event().start_mark  # type: ignore[attr-defined]
        if self.check_event(yaml.AliasEvent):  # type: ignore[attr-defined]
            node = super().compose_node(parent, index)
            self._expanded += self._sizes.get(id(node), 1)  # 1: a recursive alias
            if self._expanded > MAX_ALIAS_NODES:
                raise ComposerError(
                    None,
                    None,
                    f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes; "
                    "write the values out instead of repeating anchors",
                    mark,
                )
            return node
        self._nodes += 1
        if self._nodes + self._expanded > MAX_NODES:
            raise ComposerError(
                None,
                None,
                f"more than {MAX_NODES:,} values; list many images in a manifest instead",
                mark,
            )
        if self._depth >= MAX_DEPTH:
            raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", mark)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        self._sizes[id(node)] = 1 + sum(self._sizes.get(id(child), 1) for child in children)
        return node


class _PythonLoader(_BoundedComposer, yaml.SafeLoader):
    """yaml.SafeLoader with the bounded composer."""

    def __init__(self, stream: str) -> None:
        yaml.SafeLoader.__init__(self, stream)
        _BoundedComposer.__init__(self)


def _fast_loader() -> Callable[[str], Any] | None:
    """The safe loader on libyaml's parser (YAML 1.1, as yaml.CSafeLoader), with the
    bounded composer and PyYAML's safe constructor and resolver; None without libyaml."""
    if not yaml.__with_libyaml__:
        return None
    from yaml.cyaml import CParser  # type: ignore[attr-defined]

    class FastLoader(_BoundedComposer, CParser, SafeConstructor, Resolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _BoundedComposer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

    return FastLoader


_FastLoader = _fast_loader()


def _syntax_error(exc: yaml.MarkedYAMLError) -> YamlSyntaxError:
    mark = exc.problem_mark or exc.context_mark
    position = _position(mark) if mark is not None else Position(1, 1)
    message = ": ".join(part for part in (exc.context, exc.problem) if part)
    return YamlSyntaxError(position, f"invalid YAML: {message or 'cannot parse'}")


def _reader_error(text: str, exc: yaml.reader.ReaderError) -> YamlSyntaxError:
    before = text[: exc.position]
    position = Position(before.count("\n") + 1, len(before) - before.rfind("\n"))
    return YamlSyntaxError(
        position, f"invalid YAML: character #x{exc.character:04x} is not allowed"
    )


def _position(mark: yaml.Mark) -> Position:
    return Position(mark.line + 1, mark.column + 1)


def _walk(node: Node, loc: Loc, doc: Document, active: set[int]) -> None:
    if id(node) in active:  # a recursive alias
        return
    doc.values[loc] = _position(node.start_mark)
    if isinstance(node, ScalarNode) and not node.style and node.tag in _NOT_TEXT:
        doc.unquoted[loc] = (node.value, _NOT_TEXT[node.tag])
    active.add(id(node))
    if isinstance(node, MappingNode):
        _walk_mapping(node, loc, doc, active)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*loc, index), doc, active)
    active.discard(id(node))


def _walk_mapping(node: MappingNode, loc: Loc, doc: Document, active: set[int]) -> None:
    seen: set[str] = set()
    for key_node, value_node in node.value:
        if not isinstance(key_node, ScalarNode) or key_node.value == "<<":
            continue
        child = (*loc, key_node.value)
        if key_node.value in seen:  # PyYAML keeps the last value; a spec must not rely on it
            doc.duplicate_keys.append((child, doc.keys[child].line))
        seen.add(key_node.value)
        doc.keys[child] = _position(key_node.start_mark)
        if not key_node.style and key_node.tag in _NOT_TEXT:
            resolved = yaml.SafeLoader.yaml_constructors[key_node.tag](_KEY_READER, key_node)
            doc.unquoted_keys[(*loc, resolved)] = key_node.value
        _walk(value_node, child, doc, active)


_KEY_READER = yaml.SafeLoader("")


def iter_strings(data: Any, loc: Loc = ()) -> Iterator[tuple[Loc, str]]:
    """Every string value in `data` (not mapping keys), with its path."""
    if isinstance(data, str):
        yield loc, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from iter_strings(value, (*loc, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from iter_strings(value, (*loc, index))
