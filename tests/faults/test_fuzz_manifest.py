"""Fuzzing the manifest loader: whatever a manifest file holds, loading it either gives a
valid manifest or raises one :class:`PawflowError` whose message is one line and whose
line number is in the file, quickly.

Inputs: random bytes and text, random YAML (anchors, aliases, alias bombs, tags, huge
scalars, deep nesting), manifest-shaped data with random values, mutations of the sample
manifests, invalid UTF-8 and NUL bytes, and ``paw manifest validate`` on the nastiest.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pawflow.errors import ManifestError, PawflowError
from pawflow.manifest import MANIFEST_FILE, Manifest, load_manifest, load_project
from tests.helpers import paw_env

from ._fuzz import assert_one_line, mostly, nasty_text, note

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted(ROOT.glob(f"projects/*/{MANIFEST_FILE}")) + sorted(
    ROOT.glob(f"manifests/examples/*/{MANIFEST_FILE}")
)

# CPU seconds, not wall-clock ones, so that a busy machine does not fail the test; an
# alias bomb that expanded would take minutes (a hang is left to pytest-timeout).
LOAD_CPU_SECONDS = 5.0
MAX_MANIFEST_BYTES = 1024 * 1024  # the documented limit of a manifest file

FUZZ = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- the property ----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    manifest: Manifest | None
    error: PawflowError | None


def load_checked(path: Path) -> Outcome:
    """Load ``path`` and assert the loader's contract, whatever the outcome."""
    start = time.process_time()
    try:
        manifest = load_manifest(path)
    except PawflowError as err:
        outcome = Outcome(None, err)
    else:
        outcome = Outcome(manifest, None)
    elapsed = time.process_time() - start
    assert elapsed < LOAD_CPU_SECONDS, f"loading took {elapsed:.1f} CPU seconds"
    # Shown by --hypothesis-show-statistics: how deep into the loader inputs get.
    note("valid" if outcome.error is None else _kind(outcome.error))
    if outcome.error is not None:
        check_error(outcome.error, path)
    if outcome.manifest is not None:
        check_manifest(outcome.manifest)
    return outcome


def _kind(err: PawflowError) -> str:
    message = err.message if isinstance(err, ManifestError) else str(err)
    return re.sub(r"'[^']*'|\"[^\"]*\"|[0-9]+", "_", message)[:48]


def check_error(err: PawflowError, path: Path) -> None:
    assert_one_line(str(err))
    if not isinstance(err, ManifestError):
        return
    assert err.file, "a manifest error names its file"
    assert str(err).startswith(err.file)
    if err.line is None:
        return
    # The line is in the file it names (the manifest, or a file a call points to).
    named = Path(err.file)
    shown = named if named.is_absolute() else path.parent / named
    target = shown if shown.is_file() else path
    text = target.read_bytes().decode("utf-8", errors="replace")
    # YAML also breaks lines at \r, \x85, \u2028 and \u2029, so count with splitlines();
    # an error at the end of input sits on the line after the last line break.
    last = len(text.splitlines()) + 1
    assert 1 <= err.line <= last, f"line {err.line} is not in {target} ({last} lines): {err}"


def check_manifest(manifest: Manifest) -> None:
    data = manifest.to_dict()
    # A valid manifest is stored with its deployment as JSON (UTF-8): it must survive
    # that, so no NaN or infinity (allow_nan) and no lone surrogate (encode).
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")
    again = Manifest.from_dict(json.loads(text), source=manifest.source)
    assert again == manifest


# -- a scratch project per sample --------------------------------------------------------


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A copy of each sample project (its code included), by sample name, plus
    ``"scratch"``: a copy of projects/hello for inputs that are not mutations."""
    root = tmp_path_factory.mktemp("manifests")
    copies = {}
    for sample in SAMPLES:
        name = f"{sample.parent.parent.name}-{sample.parent.name}"
        copies[name] = Path(shutil.copytree(sample.parent, root / name)) / MANIFEST_FILE
    copies["scratch"] = Path(shutil.copytree(ROOT / "projects" / "hello", root / "s")) / (
        MANIFEST_FILE
    )
    return copies


def write(path: Path, content: bytes | str) -> Path:
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


# -- random YAML -------------------------------------------------------------------------

# The manifest's own key names, which both strategies below mix with junk.
MANIFEST_KEYS = (
    "version",
    "project",
    "name",
    "vars",
    "value",
    "triggers",
    "call",
    "webhook",
    "methods",
    "sync",
    "timeout",
    "schedule",
    "timezone",
    "connection",
    "connections",
    "integration",
    "event_type",
    "filter",
    "durable",
    "limits",
    "retry",
)
WORDS = (
    *MANIFEST_KEYS,
    "hello",
    "program.py:on_greet",
    "GET",
    "post",
    "1",
    "1.0",
    "-1",
    "0x1F",
    "0o17",
    "1_000",
    "1e400",
    ".inf",
    "-.inf",
    ".nan",
    "~",
    "null",
    "yes",
    "off",
    "on",
    "2001-12-14",
    "2001-13-45",
    "2001-12-14t21:59:43.10-99:99",
    "12:30:45",
    "=",
    "<<",
)
TAGS = (
    "!!python/object:os.system",
    "!!python/object/apply:os.system",
    "!!python/name:os.system",
    "!!python/tuple",
    "!!binary",
    "!!set",
    "!!omap",
    "!!pairs",
    "!!timestamp",
    "!!int",
    "!!float",
    "!!bool",
    "!!null",
    "!!str",
    "!!map",
    "!!seq",
    "!custom",
    "!<tag:yaml.org,2002:int>",
    "!<tag:yaml.org,2002:int%0Ax>",
    "!e!undeclared",
)
ANCHORS = ("a", "b", "c")

plain_scalars = st.one_of(
    st.sampled_from(WORDS),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_ ./:-]{0,20}", fullmatch=True).map(str.strip),
    st.integers().map(str),
    st.floats().map(repr),
)
scalars = st.one_of(
    plain_scalars,
    # JSON strings are YAML double-quoted scalars; ensure_ascii turns astral characters
    # into surrogate-pair escapes, which PyYAML decodes one by one (the loader must join
    # each pair back into one character).
    nasty_text().map(json.dumps),
    nasty_text().map(lambda s: json.dumps(s, ensure_ascii=False)),
    nasty_text(printable=True).map(lambda s: "'" + s.replace("'", "''") + "'"),
    st.sampled_from(
        [
            r'"\ud800"',
            r'"\x00"',
            r'"\N\L\P\_"',
            r'"\z"',
            r'"\U0011ffff"',
            r'"\UFFFFFFFF"',
            "|",
            ">-",
        ]
    ),
    # Valid YAML ints too long for str() (4300 decimal digits at most).
    st.sampled_from(("0x" + "f" * 4000, "-0b" + "1" * 15000, "1" * 30)),
    st.integers(1, 200_000).map(lambda n: "x" * n),
    st.sampled_from(ANCHORS).map(lambda a: f"*{a}"),
)


@dataclass(frozen=True)
class Node:
    text: str  # flow text, or block lines
    block: bool


def _decorate(draw: st.DrawFn, node: Node) -> Node:
    tag = draw(st.sampled_from(("",) * 6 + TAGS))
    anchor = draw(st.sampled_from(("",) * 6 + tuple(f"&{a}" for a in ANCHORS)))
    prefix = " ".join(p for p in (tag, anchor) if p)
    if not prefix:
        return node
    if node.block:
        return Node(f"{prefix}\n{node.text}", True)
    return Node(f"{prefix} {node.text}", False)


def _indent(text: str, by: int) -> str:
    return "\n".join(" " * by + line if line else line for line in text.split("\n"))


@st.composite
def _collection(draw: st.DrawFn, children: st.SearchStrategy[Node]) -> Node:
    items = draw(st.lists(children, max_size=5))
    keys = draw(
        st.lists(st.one_of(plain_scalars, nasty_text().map(json.dumps)), min_size=len(items))
    )
    style = draw(st.sampled_from(("flow-seq", "flow-map", "block-seq", "block-map")))
    if style == "flow-seq":
        return _decorate(draw, Node("[" + ", ".join(_flow(i) for i in items) + "]", False))
    if style == "flow-map":
        pairs = (f"{k}: {_flow(i)}" for k, i in zip(keys, items, strict=False))
        return _decorate(draw, Node("{" + ", ".join(pairs) + "}", False))
    if not items:
        return Node("[]" if style == "block-seq" else "{}", False)
    lines = []
    for key, item in zip(keys, items, strict=False):
        head = "-" if style == "block-seq" else f"{key}:"
        if item.block:
            lines.append(f"{head}\n{_indent(item.text, 2)}")
        else:
            lines.append(f"{head} {item.text}")
    return _decorate(draw, Node("\n".join(lines), True))


def _flow(node: Node) -> str:
    # A block collection inside a flow one: write it as a (probably invalid) flow blob.
    return node.text.replace("\n", " ") if node.block else node.text


yaml_nodes = st.recursive(scalars.map(lambda s: Node(s, False)), _collection, max_leaves=25)
_documents = st.builds(
    lambda prefix, node: prefix + node.text + "\n",
    st.sampled_from(("", "---\n", "%YAML 1.1\n---\n", "--- !!map\n", "version: 1\n")),
    yaml_nodes,
)


def alias_bomb(depth: int, fanout: int, *, mapping: bool = False) -> str:
    """Billion laughs: each level holds the previous one ``fanout`` times."""

    def level(items: list[str]) -> str:
        if mapping:
            return "{" + ", ".join(f"k{i}: {item}" for i, item in enumerate(items)) + "}"
        return "[" + ", ".join(items) + "]"

    lines = [f"l0: &l0 {level(['lol'] * fanout)}"]
    for n in range(1, depth):
        lines.append(f"l{n}: &l{n} {level([f'*l{n - 1}'] * fanout)}")
    lines += ["version: 1", f"project: {{name: x, vars: *l{depth - 1}}}"]
    return "\n".join(lines) + "\n"


alias_bombs = st.builds(alias_bomb, st.integers(2, 12), st.integers(2, 12), mapping=st.booleans())
# Mostly documents from the recursive strategy; a bomb now and then (each one that
# explodes costs the loader ~100k values before it gives up).
yaml_documents = mostly(_documents, alias_bombs, odds=12)


# -- manifest-shaped data ----------------------------------------------------------------

any_value = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        nasty_text(),
        st.sampled_from(WORDS),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(nasty_text(12), inner, max_size=3)
    ),
    max_leaves=6,
)
CRON_PARTS = ("*", "*/5", "1-5", "5-1", "0", "59", "60", "MON", "jan-dec", "²", "٣", ",", "/", "-")
cron = st.one_of(
    st.lists(st.sampled_from(CRON_PARTS), min_size=1, max_size=4).map("".join),
    st.sampled_from(("@daily", "@every 10m", "@every 0s", "@every 1²s", "@reboot", "")),
)
cron_expressions = st.lists(cron, min_size=0, max_size=6).map(" ".join)
ZONES = ("UTC", "Europe/Berlin", "europe/berlin", "posixrules", "right/UTC", "../etc/passwd")
timezones = st.one_of(st.sampled_from(ZONES), nasty_text())
calls = st.one_of(
    st.sampled_from(("program.py:on_greet", "program.py:missing", "/abs.py:f", "../up.py:f")),
    st.builds(lambda a, b: f"{a}.py:{b}", nasty_text(12), nasty_text(12)),
)
filters = st.one_of(
    st.sampled_from(('data.x == "y"', "has(data.a) && data.a > 1", "data.", "((((", "1 +")),
    nasty_text(),
)


def _maybe(value: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    # Mostly the right kind of value, so that many documents get past the schema.
    return mostly(value, any_value)


trigger_data = st.fixed_dictionaries(
    {"name": _maybe(st.sampled_from(("t", "greet", "T!", "")))},
    optional={
        "call": _maybe(calls),
        "webhook": _maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "methods": _maybe(st.lists(st.sampled_from(("GET", "post", "PUT", "X")))),
                    "sync": _maybe(st.booleans()),
                    "timeout": _maybe(st.floats()),
                },
            )
        ),
        "schedule": _maybe(cron_expressions),
        "timezone": _maybe(timezones),
        "connection": _maybe(st.sampled_from(("gh", "nope"))),
        "event_type": _maybe(nasty_text()),
        "filter": _maybe(filters),
        "durable": _maybe(st.booleans()),
    },
)
identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
numbers = st.one_of(st.integers(), st.floats())
project_data = st.fixed_dictionaries(
    {"name": _maybe(st.sampled_from(("hello", "Hello", "h" * 300)))},
    optional={
        "vars": _maybe(
            st.lists(
                st.fixed_dictionaries({"name": _maybe(identifiers), "value": _maybe(nasty_text())})
            )
        ),
        "triggers": _maybe(st.lists(trigger_data, max_size=3)),
        "connections": _maybe(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "name": _maybe(st.sampled_from(("gh", "GH"))),
                        "integration": _maybe(st.sampled_from(("github", "http", "nope"))),
                    },
                    optional={"vars": _maybe(st.dictionaries(identifiers, nasty_text()))},
                ),
                max_size=2,
            )
        ),
        "limits": _maybe(
            st.dictionaries(
                st.sampled_from(("cpu_seconds", "wall_seconds", "memory_mb")), _maybe(numbers)
            )
        ),
        "retry": _maybe(
            st.dictionaries(
                st.sampled_from(("max_attempts", "initial_interval", "backoff", "max_interval")),
                _maybe(numbers),
            )
        ),
    },
)
_manifest_data = st.fixed_dictionaries({"version": _maybe(st.just(1)), "project": project_data})
manifest_data = mostly(
    _manifest_data,
    st.builds(lambda data, extra: {**data, "extra": extra}, _manifest_data, any_value),
)


def dump_yaml(data: object, style: str) -> str:
    if style == "json":
        # JSON is YAML; Python's json writes NaN and Infinity, YAML reads them as strings.
        return json.dumps(data)
    return yaml.safe_dump(data, allow_unicode=style == "unicode", default_flow_style=False)


# -- mutations of the sample manifests ---------------------------------------------------

Lines = list[str]
JUNK_LINES = (
    "\t- x",
    "key: [",
    "---",
    "...",
    "%YAML 1.1",
    "&a *a",
    "? complex",
    "<<: *a",
    "!!python/object/apply:os.system [echo]",
    "project:",
    "  name: 5",
    "    - name: dup",
    "  triggers: *nope",
    "version: 2",
    "\x00",
    "# comment",
    "   ",
)
VALUES = (
    "",
    "~",
    "[]",
    "{}",
    "[1, [2, {3: 4}]]",
    "5",
    "-1",
    "0",
    "1.0e+400",
    "0x" + "f" * 4000,
    ".nan",
    "true",
    "2001-12-14",
    '"0 3 * * *"',
    "'*/0 * * * *'",
    "60 * * * *",
    "² * * * *",
    "Europe/Berlin",
    "Europe",
    "Mars/Olympus",
    "program.py:on_greet",
    "program.py:nope",
    "other.py:f",
    "a\\b.py:f",
    "../x.py:f",
    "data.x ==",
    "[GET, GET]",
    "[get]",
    "&x 1",
    "*x",
    "!!binary aGk=",
    "!!python/name:os.system",
    '"\\ud800"',
    "|\n  multi\n  line",
)
KEYS = (
    *MANIFEST_KEYS,
    "on",
    "<<",
    "Name",
    "trigers",
)


def _drop(draw: st.DrawFn, lines: Lines) -> Lines:
    i = draw(st.integers(0, len(lines) - 1))
    return lines[:i] + lines[i + 1 :]


def _duplicate(draw: st.DrawFn, lines: Lines) -> Lines:
    i = draw(st.integers(0, len(lines) - 1))
    return [*lines[: i + 1], lines[i], *lines[i + 1 :]]


def _swap(draw: st.DrawFn, lines: Lines) -> Lines:
    i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
    out = list(lines)
    out[i], out[j] = out[j], out[i]
    return out


def _junk(draw: st.DrawFn, lines: Lines) -> Lines:
    i = draw(st.integers(0, len(lines)))
    line = draw(st.one_of(st.sampled_from(JUNK_LINES), nasty_text(printable=True)))
    return [*lines[:i], line, *lines[i:]]


def _indentation(draw: st.DrawFn, lines: Lines) -> Lines:
    i = draw(st.integers(0, len(lines) - 1))
    body = lines[i].lstrip(" ")
    indent = draw(st.one_of(st.integers(0, 12).map(lambda n: " " * n), st.just("\t")))
    return [*lines[:i], indent + body, *lines[i + 1 :]]


def _split_key(line: str) -> tuple[str, str, str] | None:
    head, sep, value = line.partition(":")
    if not sep or head.strip().startswith("#") or not head.strip(" -"):
        return None
    return head, sep, value


def _retype(draw: st.DrawFn, lines: Lines) -> Lines:
    keyed = [i for i, line in enumerate(lines) if _split_key(line)]
    if not keyed:
        return lines
    i = draw(st.sampled_from(keyed))
    parts = _split_key(lines[i])
    assert parts is not None
    head, _, _ = parts
    value = draw(st.one_of(st.sampled_from(VALUES), plain_scalars, nasty_text().map(json.dumps)))
    indent = " " * (len(head) - len(head.lstrip(" -")) + 2)
    value = value.replace("\n", "\n" + indent)
    return [*lines[:i], f"{head}: {value}", *lines[i + 1 :]]


def _rename(draw: st.DrawFn, lines: Lines) -> Lines:
    keyed = [i for i, line in enumerate(lines) if _split_key(line)]
    if not keyed:
        return lines
    i = draw(st.sampled_from(keyed))
    parts = _split_key(lines[i])
    assert parts is not None
    head, _, value = parts
    prefix = head[: len(head) - len(head.lstrip(" -"))]
    key = draw(st.one_of(st.sampled_from(KEYS), nasty_text(12, printable=True)))
    return [*lines[:i], f"{prefix}{key}:{value}", *lines[i + 1 :]]


MUTATIONS: tuple[Callable[[st.DrawFn, Lines], Lines], ...] = (
    _drop,
    _duplicate,
    _swap,
    _junk,
    _indentation,
    _retype,
    _rename,
)


@st.composite
def mutated_samples(draw: st.DrawFn) -> tuple[str, str]:
    """(sample name, its manifest after one to four random edits)."""
    sample = draw(st.sampled_from(SAMPLES))
    lines = sample.read_text(encoding="utf-8").splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        lines = draw(st.sampled_from(MUTATIONS))(draw, lines)
    text = "\n".join(lines) + draw(st.sampled_from(("\n", "", "\r\n", "\n\n")))
    cut = draw(mostly(st.none(), st.integers(0, len(text)), odds=10))
    if cut is not None:
        text = text[:cut]
    return f"{sample.parent.parent.name}-{sample.parent.name}", text


INVALID_BYTES = (b"\xff", b"\xc3", b"\xc3(", b"\xe2\x82", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80")


@st.composite
def corrupted_samples(draw: st.DrawFn) -> tuple[str, bytes, bool]:
    """(sample name, its manifest with invalid UTF-8 or NUL bytes spliced in, whether
    only NUL bytes were added)."""
    sample = draw(st.sampled_from(SAMPLES))
    raw = sample.read_bytes()
    only_nul = draw(st.booleans())
    pieces = st.just(b"\x00") if only_nul else st.sampled_from((*INVALID_BYTES, b"\x00"))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(pieces) + raw[at:]
    return f"{sample.parent.parent.name}-{sample.parent.name}", raw, only_nul


# -- properties --------------------------------------------------------------------------


def test_the_samples_load() -> None:
    # The mutations start from valid manifests; a broken sample would hide that.
    assert len(SAMPLES) >= 10
    for sample in SAMPLES:
        load_checked(sample)


@FUZZ
@given(content=st.binary(max_size=4096))
def test_random_bytes(scratch: dict[str, Path], content: bytes) -> None:
    load_checked(write(scratch["scratch"], content))


@FUZZ
@given(content=st.one_of(st.text(max_size=2000), nasty_text(400)))
def test_random_text(scratch: dict[str, Path], content: str) -> None:
    load_checked(write(scratch["scratch"], content))


@FUZZ
@given(document=yaml_documents)
def test_random_yaml(scratch: dict[str, Path], document: str) -> None:
    load_checked(write(scratch["scratch"], document))


BOMBS = {
    "sequence-12x12": alias_bomb(12, 12),
    "mapping-12x12": alias_bomb(12, 12, mapping=True),
    "sequence-30x2": alias_bomb(30, 2),
    # Few values but many bytes: 20k references to one 500 kB string.
    "quadratic": "a: &a " + "x" * 500_000 + "\nb: [" + ", ".join(["*a"] * 20_000) + "]\n",
}
DEEP = 100_000
NESTING = {
    "open-brackets": "[" * DEEP,
    "flow-mappings": "{a: " * DEEP + "1" + "}" * DEEP,
    "block-sequences": "- " * DEEP + "x\n",
    "block-mappings": "".join(" " * i + "a:\n" for i in range(1400)) + " " * 1400 + "b\n",
    "in-project": "version: 1\nproject: {name: x, vars: " + "[" * DEEP + "]" * DEEP + "}\n",
    "in-project-300": "version: 1\nproject: {name: x, vars: " + "[" * 300 + "]" * 300 + "}\n",
}


@pytest.mark.parametrize("document", [*BOMBS.values(), *NESTING.values()], ids=[*BOMBS, *NESTING])
def test_alias_bombs_and_deep_nesting_are_rejected_quickly(
    scratch: dict[str, Path], document: str
) -> None:
    outcome = load_checked(write(scratch["scratch"], document))
    assert outcome.error is not None


@FUZZ
@given(data=manifest_data, style=st.sampled_from(("json", "ascii", "unicode")))
def test_manifest_shaped_data(scratch: dict[str, Path], data: object, style: str) -> None:
    load_checked(write(scratch["scratch"], dump_yaml(data, style)))


@FUZZ
@given(sample=mutated_samples())
def test_mutated_samples(scratch: dict[str, Path], sample: tuple[str, str]) -> None:
    name, text = sample
    load_checked(write(scratch[name], text))


@FUZZ
@given(sample=corrupted_samples())
def test_invalid_utf8_and_nul_bytes(
    scratch: dict[str, Path], sample: tuple[str, bytes, bool]
) -> None:
    name, raw, only_nul = sample
    outcome = load_checked(write(scratch[name], raw))
    err = outcome.error
    assert isinstance(err, ManifestError), "a manifest with NUL or invalid UTF-8 loaded"
    if only_nul:
        expected_at = raw.index(b"\x00")
        assert "control character 0x0000" in err.message
    else:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as decode_error:
            expected_at = decode_error.start
            assert "not valid UTF-8" in err.message
        else:  # only NUL bytes landed in valid spots
            expected_at = raw.index(b"\x00")
    assert err.line == raw.count(b"\n", 0, expected_at) + 1


@FUZZ
@given(content=st.one_of(st.binary(max_size=512), mutated_samples().map(lambda s: s[1])))
def test_load_project_on_random_content(scratch: dict[str, Path], content: bytes | str) -> None:
    path = write(scratch["scratch"], content)
    try:
        manifest = load_project(path.parent, display="")
    except PawflowError as err:
        check_error(err, path)
        if isinstance(err, ManifestError):
            assert not Path(err.file).is_absolute(), "display='' hides the directory"
    else:
        check_manifest(manifest)


def test_file_size_limit(scratch: dict[str, Path]) -> None:
    path = scratch["scratch"]
    outcome = load_checked(write(path, "# " + "x" * MAX_MANIFEST_BYTES + "\nversion: 1\n"))
    assert isinstance(outcome.error, ManifestError)
    assert "larger than 1 MiB" in outcome.error.message


# -- the command line --------------------------------------------------------------------

NASTIEST: dict[str, bytes] = {
    "alias-bomb": (
        b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + b"".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n".encode()
            for i in range(9)
        )
    ),
    "deep-nesting": b"[" * 100_000,
    "invalid-utf8": b"version: 1\nproject:\n  name: \xff\xfe\n",
    "nul-byte": b"version: 1\nproject:\n  name: he\x00llo\n",
    "python-tag": b"!!python/object/apply:os.system [echo pwned]\n",
    "too-large": b"#" * (MAX_MANIFEST_BYTES + 2),
    "line-breaks": "version: 1\u2028project:\r  name: [\x85".encode(),
}


def test_paw_manifest_validate_on_the_nastiest_inputs(tmp_path: Path) -> None:
    cases = {name: write(tmp_path / f"{name}.yaml", raw) for name, raw in NASTIEST.items()}
    # Started together, waited for together: each one is an interpreter start-up.
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "pawflow.cli", "manifest", "validate", str(path)],
            env=paw_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name, path in cases.items()
    }
    failures = []
    for name, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            failures.append(f"{name}: hangs")
            continue
        stderr = err.decode("utf-8", errors="replace")
        if proc.returncode not in (1, 2):
            failures.append(f"{name}: exit code {proc.returncode}")
        if "Traceback (most recent call last)" in stderr:
            failures.append(f"{name}: traceback:\n{stderr}")
        elif len(stderr.strip().splitlines()) != 1 or not stderr.startswith("error: "):
            failures.append(f"{name}: stderr is not one 'error: ' line: {stderr!r}")
        if out:
            failures.append(f"{name}: prints on stdout: {out[:200]!r}")
    assert not failures, "\n".join(failures)


# -- regressions: bugs the fuzzing above found ------------------------------------------

CRON_MANIFEST = """\
version: 1
project:
  name: hello
  triggers:
    - name: nightly
      schedule: {schedule}
      timezone: {timezone}
      call: program.py:on_greet
"""


@pytest.mark.parametrize(
    ("schedule", "problem"),
    [
        # str.isdigit() is true for '²', which int() refuses.
        pytest.param('"² * * * *"', "minute '²': '²' is not a number", id="superscript-digit"),
        pytest.param(
            '"*/1² * * * *"',
            "minute '*/1²': the step after '/' must be a positive whole number, got '1²'",
            id="superscript-digit-in-step",
        ),
        # int() refuses more than 4300 digits.
        pytest.param(
            f'"{"1" * 4301} * * * *"',
            "11111111... (4301 digits) is out of range 0-59",
            id="over-4300-digits",
        ),
        pytest.param(
            f'"*/{"1" * 4301} * * * *"',
            "the step after '/' must be at most 9999, got 11111111... (4301 digits)",
            id="over-4300-digits-in-step",
        ),
    ],
)
def test_cron_digits_that_int_refuses_are_manifest_errors(
    scratch: dict[str, Path], schedule: str, problem: str
) -> None:
    path = write(scratch["scratch"], CRON_MANIFEST.format(schedule=schedule, timezone="UTC"))
    outcome = load_checked(path)
    err = outcome.error
    assert isinstance(err, ManifestError)
    assert (err.line, err.key) == (6, "project.triggers[0].schedule")
    assert err.message.endswith(problem)


@pytest.mark.parametrize(
    "timezone",
    [
        # zoneinfo raises IsADirectoryError for a directory of the tz database and
        # OSError(ENAMETOOLONG) for a long name.
        pytest.param("Europe", id="a-tzdata-directory"),
        pytest.param("a" * 300, id="name-too-long"),
    ],
)
def test_timezone_names_zoneinfo_cannot_open_are_manifest_errors(
    scratch: dict[str, Path], timezone: str
) -> None:
    manifest = CRON_MANIFEST.format(schedule='"0 3 * * *"', timezone=timezone)
    outcome = load_checked(write(scratch["scratch"], manifest))
    err = outcome.error
    assert isinstance(err, ManifestError)
    assert (err.line, err.key) == (7, "project.triggers[0].timezone")
    assert err.message.startswith(f"unknown time zone {timezone!r}")


@pytest.mark.parametrize("escape", ["\\U0011ffff", "\\UFFFFFFFF"])
def test_escape_past_the_unicode_range_is_a_manifest_error(
    scratch: dict[str, Path], escape: str
) -> None:
    # PyYAML's scanner passes the escape to chr(), which raises ValueError (or
    # OverflowError past a C int).
    path = write(scratch["scratch"], f'version: 1\nproject: {{name: "{escape}"}}\n')
    outcome = load_checked(path)
    err = outcome.error
    assert isinstance(err, ManifestError)
    assert err.line == 2
    assert "past U+10FFFF" in err.message


CALL_MANIFEST = """\
version: 1
project:
  name: hello
  triggers:
    - name: greet
      webhook: {}
      call: "a\\\\\\nb.py:on_greet"
"""


def test_backslash_call_path_message_is_one_line(scratch: dict[str, Path]) -> None:
    outcome = load_checked(write(scratch["scratch"], CALL_MANIFEST))
    err = outcome.error
    assert isinstance(err, ManifestError)
    assert (err.line, err.key) == (7, "project.triggers[0].call")
    assert err.message == "use '/' instead of '\\' in the path 'a\\\\\\nb.py'"


NON_JSON_MANIFEST = """\
version: 1
project:
  name: hello
  vars:
    - name: GREETING
      value: {value}
  triggers:
    - name: greet
      webhook: {{sync: true, timeout: {timeout}}}
      call: program.py:on_greet
"""


@pytest.mark.parametrize("timeout", [".nan", ".NaN", ".inf", "1.0e+400"])
def test_non_finite_numbers_are_manifest_errors(scratch: dict[str, Path], timeout: str) -> None:
    # NaN passes every bound of the JSON Schema: each comparison with it is false.
    path = write(scratch["scratch"], NON_JSON_MANIFEST.format(value="Hi", timeout=timeout))
    outcome = load_checked(path)
    err = outcome.error
    assert isinstance(err, ManifestError)
    assert (err.line, err.key) == (9, "project.triggers[0].webhook.timeout")
    assert err.message == f"must be a finite number, got {timeout}"


@pytest.mark.parametrize("value", ['"\\ud800"', '"x\\udfffy"', '"\\ude00\\ud83d"'])
def test_lone_surrogates_are_manifest_errors(scratch: dict[str, Path], value: str) -> None:
    # Stored, such a string made the deployment answer HTTP 500 (it has no UTF-8 form).
    path = write(scratch["scratch"], NON_JSON_MANIFEST.format(value=value, timeout=10))
    outcome = load_checked(path)
    err = outcome.error
    assert isinstance(err, ManifestError)
    assert (err.line, err.key) == (6, "project.vars[0].value")
    assert "lone surrogate" in err.message


def test_surrogate_pairs_make_one_character(scratch: dict[str, Path]) -> None:
    # What json.dumps writes for an astral character; YAML is a superset of JSON.
    value = json.dumps("\U0001f600 ok")
    path = write(scratch["scratch"], NON_JSON_MANIFEST.format(value=value, timeout=10))
    manifest = load_checked(path).manifest
    assert manifest is not None
    assert manifest.project.vars[0].value == "\U0001f600 ok"


@pytest.mark.parametrize("number", ["0x" + "f" * 4000, "-0b" + "1" * 15000, str(2**63)])
def test_whole_numbers_past_64_bits_are_manifest_errors(
    scratch: dict[str, Path], number: str
) -> None:
    # Once loaded (or crashed the schema's message), then broke json.dumps: str() of an
    # int refuses more than 4300 digits.
    text = f"version: 1\nproject:\n  name: hello\n  limits: {{memory_mb: {number}}}\n"
    outcome = load_checked(write(scratch["scratch"], text))
    err = outcome.error
    assert isinstance(err, ManifestError)
    assert (err.line, err.key) == (4, "project.limits.memory_mb")
    assert err.message == "whole number out of range (-2**63 to 2**63-1)"
