"""YAML to plain data, remembering the line of every key and value.

PyYAML's ``safe_load`` forgets where things were and silently keeps the last of
duplicate keys, so the loader composes the node tree with the safe loader and
converts it here, recording positions as it goes.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import ManifestError

__all__ = ["KeyPath", "Spot", "Spots", "describe", "format_key", "parse_yaml"]

# A location in the data: mapping keys and list indexes from the top, e.g.
# ("project", "triggers", 1, "call").
KeyPath = tuple[str | int, ...]

# Aliases can make a 1 MiB file expand into billions of values.
_MAX_VALUES = 100_000

# "\ud83d\ude00" in a double-quoted scalar (json.dumps writes astral characters so)
# reaches us as two code units; joined, it is one character. Alone, a surrogate is
# no character at all: it cannot be encoded, stored or printed.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SURROGATE_PAIR = re.compile(r"[\ud800-\udbff][\udc00-\udfff]")

_INT_LIMIT = 2**63

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


@dataclass(frozen=True, slots=True)
class Spot:
    """Where a value sits in the file (1-based lines)."""

    key_line: int  # line of the key holding the value (the item's own line in a list)
    line: int  # line where the value starts
    raw: str | None = None  # source text of a scalar, to suggest quoting it


class Spots:
    """The positions of every value of a parsed document, by key path."""

    def __init__(self) -> None:
        self._spots: dict[KeyPath, Spot] = {}

    def add(self, path: KeyPath, spot: Spot) -> None:
        # With aliases one value can appear at several paths; keep the first.
        self._spots.setdefault(path, spot)

    def get(self, path: KeyPath) -> Spot | None:
        return self._spots.get(path)

    def line(self, path: KeyPath) -> int | None:
        """The line of the value at ``path``, else of its nearest known parent."""
        spot = self._nearest(path)
        return spot.line if spot else None

    def key_line(self, path: KeyPath) -> int | None:
        """The line of the key holding the value at ``path``."""
        spot = self._nearest(path)
        return spot.key_line if spot else None

    def _nearest(self, path: KeyPath) -> Spot | None:
        while path:
            spot = self._spots.get(path)
            if spot is not None:
                return spot
            path = path[:-1]
        return self._spots.get(())


def format_key(path: KeyPath) -> str:
    """``("project", "triggers", 1, "call")`` → ``project.triggers[1].call``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part and all(c.isalnum() or c in "_-" for c in part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def describe(value: Any) -> str:
    """A short name for the kind of ``value``, as the user wrote it in YAML."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, datetime.date):
        return "a date"
    if isinstance(value, bytes):
        return "binary data"
    return f"a {type(value).__name__}"


def parse_yaml(text: str, *, file: str) -> tuple[Any, Spots]:
    """Parse one YAML document into plain data and the position of each value.

    Raises :class:`ManifestError` (naming ``file``) on invalid YAML, duplicate
    keys, non-string keys, unsupported tags and lone surrogates (escapes such as
    ``"\\ud800"``). An empty document gives ``None``.
    """
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as err:
        raise ManifestError(
            _reader_message(err), file=file, line=_line_at(text, err.position)
        ) from None
    try:
        node = _compose(loader, file)
        spots = Spots()
        if node is None:
            return None, spots
        data = _Converter(loader, file, spots).convert(node, (), node.start_mark.line + 1)
        return data, spots
    except yaml.MarkedYAMLError as err:
        raise _syntax_error(err, text, file) from None
    except yaml.YAMLError as err:
        raise ManifestError(f"invalid YAML: {str(err).splitlines()[0]}", file=file) from None
    except RecursionError:
        raise ManifestError("invalid YAML: nested too deeply", file=file) from None
    finally:
        loader.dispose()


def _compose(loader: yaml.SafeLoader, file: str) -> yaml.Node | None:
    try:
        return loader.get_single_node()
    except (ValueError, OverflowError):
        # PyYAML's scanner hands escapes such as "\U0011ffff" to chr() unchecked (and
        # "\UFFFFFFFF" overflows a C int); the reader stops at the escape.
        raise ManifestError(
            "invalid YAML: an escape sequence is past U+10FFFF, the last Unicode character",
            file=file,
            line=loader.get_mark().line + 1,
        ) from None


class _Converter:
    def __init__(self, loader: yaml.SafeLoader, file: str, spots: Spots) -> None:
        self._loader = loader
        self._file = file
        self._spots = spots
        self._count = 0
        self._open: set[int] = set()  # ids of the collections being converted
        # Strings already checked, by id (aliases repeat them: checking each
        # repetition again would be quadratic).
        self._texts: dict[int, tuple[str, str]] = {}

    def convert(self, node: yaml.Node, path: KeyPath, key_line: int) -> Any:
        line = node.start_mark.line + 1
        self._count += 1
        if self._count > _MAX_VALUES:
            raise self._error(f"more than {_MAX_VALUES} values (aliases expand too far)", line)
        if isinstance(node, yaml.ScalarNode):
            self._spots.add(path, Spot(key_line, line, node.value))
            return self._scalar(node, path)
        self._spots.add(path, Spot(key_line, line))
        if id(node) in self._open:
            raise self._error("an alias refers to a value that contains it", line, path)
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode) and node.tag == _MAP_TAG:
                return self._mapping(node, path)
            if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG:
                return [
                    self.convert(item, (*path, i), item.start_mark.line + 1)
                    for i, item in enumerate(node.value)
                ]
            raise self._error(f"unsupported YAML tag {node.tag!r}", line, path)
        finally:
            self._open.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise self._error("mapping keys must be plain strings", key_line, path)
            # The key's text, not its YAML 1.1 value: `on:` must stay "on", not True.
            key = self._text(key_node.value, key_line, (*path, key_node.value))
            if key == "<<" and key_node.tag == "tag:yaml.org,2002:merge":
                raise self._error("YAML merge keys ('<<') are not supported", key_line, path)
            if key in first_line:
                raise self._error(
                    f"duplicate key {key!r} (first defined on line {first_line[key]})",
                    key_line,
                    (*path, key),
                )
            first_line[key] = key_line
            out[key] = self.convert(value_node, (*path, key), key_line)
        return out

    def _scalar(self, node: yaml.ScalarNode, path: KeyPath) -> Any:
        line = node.start_mark.line + 1
        try:
            value = self._loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError:
            raise self._error(f"unsupported YAML tag {node.tag!r}", line, path) from None
        except ValueError:
            raise self._error(f"invalid {node.tag.rsplit(':', 1)[-1]} value", line, path) from None
        if isinstance(value, int) and not -_INT_LIMIT <= value < _INT_LIMIT:
            # 0x followed by 4000 digits is a valid YAML int: one that neither the
            # store's JSON (str() refuses over 4300 digits) nor Temporal can hold.
            raise self._error("whole number out of range (-2**63 to 2**63-1)", line, path)
        return self._text(value, line, path) if isinstance(value, str) else value

    def _text(self, text: str, line: int, path: KeyPath) -> str:
        """``text`` with its surrogate pairs joined; a lone surrogate is an error."""
        seen = self._texts.get(id(text))
        if seen is not None and seen[0] is text:
            return seen[1]
        joined = text
        if _SURROGATE.search(text):
            joined = _SURROGATE_PAIR.sub(
                lambda m: m.group().encode("utf-16-le", "surrogatepass").decode("utf-16-le"), text
            )
            lone = _SURROGATE.search(joined)
            if lone is not None:
                raise self._error(
                    f"lone surrogate \\u{ord(lone.group()):04x} in a string is not a character "
                    "(write the character itself, or both halves of its UTF-16 pair)",
                    line,
                    path,
                )
        self._texts[id(text)] = (text, joined)
        return joined

    def _error(self, message: str, line: int, path: KeyPath = ()) -> ManifestError:
        return ManifestError(message, file=self._file, line=line, key=format_key(path))


def _syntax_error(err: yaml.MarkedYAMLError, text: str, file: str) -> ManifestError:
    mark = err.problem_mark or err.context_mark
    line = mark.line + 1 if mark is not None else None
    problem = err.problem or ""
    if line is not None and ("'\\t'" in problem or "\t" in _indent(text, line)):
        return ManifestError("tab character: YAML is indented with spaces", file=file, line=line)
    if isinstance(err, yaml.composer.ComposerError) and "single document" in (err.context or ""):
        message = "one YAML document only: remove the second '---'"
        return ManifestError(message, file=file, line=line)
    message = f"invalid YAML: {problem or err.context}"
    context_mark = err.context_mark
    if err.context and problem and context_mark is not None and context_mark.line + 1 != line:
        message += f" ({err.context} from line {context_mark.line + 1})"
    return ManifestError(message, file=file, line=line)


def _reader_message(err: yaml.reader.ReaderError) -> str:
    return f"invalid YAML: control character {err.character:#06x} is not allowed"


def _indent(text: str, line: int) -> str:
    lines = text.splitlines()
    if not 0 < line <= len(lines):
        return ""
    content = lines[line - 1]
    return content[: len(content) - len(content.lstrip())]


def _line_at(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1
