"""The ``$filter`` grammar of GetImages / GetImageCount for image metadata.

    expr    := term ("or" term)*
    term    := factor ("and" factor)*
    factor  := "(" expr ")" | "not" factor | KEY ("eq" | "ne") 'VALUE'

Keys are bare words (optionally prefixed ``metadata/``); values are single-quoted with
``''`` as an escaped quote. Keywords are case-insensitive.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from cvspec.emulator.exceptions import bad_request

Predicate = Callable[[dict[str, str]], bool]

_TOKEN = re.compile(r"\s*(?:(\()|(\))|'((?:[^']|'')*)'|([^\s()']+))")


def parse_filter(text: str) -> Predicate:
    """Compile a ``$filter`` expression into a predicate over an image's metadata."""
    tokens = _tokenize(text)
    parser = _Parser(tokens, text)
    predicate = parser.expr()
    if parser.pos != len(tokens):
        raise _invalid(text)
    return predicate


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _invalid(text)
        lparen, rparen, quoted, word = match.groups()
        if lparen:
            tokens.append(("(", "("))
        elif rparen:
            tokens.append((")", ")"))
        elif quoted is not None:
            tokens.append(("str", quoted.replace("''", "'")))
        else:
            tokens.append(("word", word))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], text: str) -> None:
        self.tokens = tokens
        self.text = text
        self.pos = 0

    def _peek_word(self) -> str | None:
        if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "word":
            return self.tokens[self.pos][1].lower()
        return None

    def _take(self, kind: str) -> str:
        if self.pos >= len(self.tokens) or self.tokens[self.pos][0] != kind:
            raise _invalid(self.text)
        value = self.tokens[self.pos][1]
        self.pos += 1
        return value

    def expr(self) -> Predicate:
        parts = [self.term()]
        while self._peek_word() == "or":
            self.pos += 1
            parts.append(self.term())
        if len(parts) == 1:
            return parts[0]
        return lambda m: any(p(m) for p in parts)

    def term(self) -> Predicate:
        parts = [self.factor()]
        while self._peek_word() == "and":
            self.pos += 1
            parts.append(self.factor())
        if len(parts) == 1:
            return parts[0]
        return lambda m: all(p(m) for p in parts)

    def factor(self) -> Predicate:
        if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "(":
            self.pos += 1
            inner = self.expr()
            self._take(")")
            return inner
        if self._peek_word() == "not":
            self.pos += 1
            negated = self.factor()
            return lambda m: not negated(m)
        key = self._take("word")
        if key.lower().startswith("metadata/"):
            key = key[len("metadata/") :]
        op = (self._take("word")).lower()
        value = self._take("str")
        if op == "eq":
            return lambda m: m.get(key) == value
        if op == "ne":
            return lambda m: m.get(key) != value
        raise _invalid(self.text)


def _invalid(text: str) -> Exception:
    return bad_request("BadRequestInvalid", f"Invalid $filter expression: {text}")
