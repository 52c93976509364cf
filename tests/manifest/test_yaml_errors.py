"""Problems found while reading the file and parsing YAML, before the schema."""

from __future__ import annotations

import pytest

from pawflow.errors import ManifestError
from pawflow.manifest import MANIFEST_FILE, load_manifest

from ._support import BASE, ProjectDir, where


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        pytest.param(
            "version: 1\nproject:\n  name: [hello\n  vars: []\n",
            4,
            "",
            "invalid YAML: expected ',' or ']', but got ':' "
            "(while parsing a flow sequence from line 3)",
            id="syntax-error",
        ),
        pytest.param(
            "version: 1\nproject: name: hello\n",
            2,
            "",
            "invalid YAML: mapping values are not allowed here",
            id="mapping-in-scalar",
        ),
        pytest.param(
            BASE + "---\nversion: 1\n",
            11,
            "",
            "one YAML document only: remove the second '---'",
            id="two-documents",
        ),
        pytest.param("", None, "", "the manifest is empty", id="empty"),
        pytest.param("# nothing yet\n\n", None, "", "the manifest is empty", id="only-comments"),
        pytest.param(
            "- version: 1\n",
            1,
            "",
            "expected a mapping at the top level (version: 1, project: ...), got a list",
            id="top-level-list",
        ),
        pytest.param(
            "\nhello\n",
            2,
            "",
            "expected a mapping at the top level (version: 1, project: ...), got a string",
            id="top-level-scalar",
        ),
        pytest.param(
            BASE.replace("  vars:", "  name: again\n  vars:"),
            4,
            "project.name",
            "duplicate key 'name' (first defined on line 3)",
            id="duplicate-key",
        ),
        pytest.param(
            BASE + "version: 1\n",
            11,
            "version",
            "duplicate key 'version' (first defined on line 1)",
            id="duplicate-top-level-key",
        ),
        pytest.param(
            BASE.replace("      webhook: {}", "      webhook: {'methods': [GET], methods: [PUT]}"),
            9,
            "project.triggers[0].webhook.methods",
            "duplicate key 'methods' (first defined on line 9)",
            id="duplicate-key-quoted-and-plain",
        ),
        pytest.param(
            "version: 1\nproject:\n\tname: hello\n",
            3,
            "",
            "tab character: YAML is indented with spaces",
            id="tab-indent",
        ),
        pytest.param(
            BASE.replace("      call:", "  \t  call:"),
            10,
            "",
            "tab character: YAML is indented with spaces",
            id="tab-in-indent-after-spaces",
        ),
        pytest.param(
            "version: 1\nproject:\n  name:\thello\n",
            3,
            "",
            "tab character: YAML is indented with spaces",
            id="tab-after-colon",
        ),
        pytest.param(
            "version: 1\nproject: \x07\n",
            2,
            "",
            "invalid YAML: control character 0x0007 is not allowed",
            id="control-character",
        ),
        pytest.param(
            "version: 1\n[project]: {}\n",
            2,
            "",
            "mapping keys must be plain strings",
            id="list-key",
        ),
        pytest.param(
            "defaults: &d {name: hello}\nproject:\n  <<: *d\n",
            3,
            "project",
            "YAML merge keys ('<<') are not supported",
            id="merge-key",
        ),
        pytest.param(
            "version: 1\nproject: !thing {name: hello}\n",
            2,
            "project",
            "unsupported YAML tag '!thing'",
            id="unknown-tag",
        ),
        pytest.param(
            "version: 1\nproject: !!python/name:os.system ''\n",
            2,
            "project",
            "unsupported YAML tag 'tag:yaml.org,2002:python/name:os.system'",
            id="python-tag",
        ),
        pytest.param(
            "version: 1\nproject:\n  name: !!binary 'not base64!'\n",
            3,
            "project.name",
            "unsupported YAML tag 'tag:yaml.org,2002:binary'",
            id="bad-binary",
        ),
        pytest.param(
            "version: 1\nproject: &p\n  name: hello\n  vars: [*p]\n",
            2,  # the alias has no position of its own: it points at the anchor's value
            "project.vars[0]",
            "an alias refers to a value that contains it",
            id="recursive-alias",
        ),
        pytest.param(
            "version: 1\nproject: &p [*p]\n",
            2,
            "project[0]",
            "an alias refers to a value that contains it",
            id="recursive-alias-in-list",
        ),
    ],
)
def test_yaml_error(
    project: ProjectDir, text: str, line: int | None, key: str, message: str
) -> None:
    err = project.error(text)
    assert where(err) == ("proj/pawflow.yaml", line, key)
    assert err.message == message


def test_deep_nesting_is_refused(project: ProjectDir) -> None:
    err = project.error("version: " + "[" * 2000 + "]" * 2000 + "\n")
    assert where(err) == ("proj/pawflow.yaml", None, "")
    assert err.message == "invalid YAML: nested too deeply"


def test_alias_bomb_is_refused(project: ProjectDir) -> None:
    # Each line multiplies the previous one by ten: 10**6 values from six short lines.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 6):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    err = project.error("\n".join(lines) + "\n")
    assert err.message == "more than 100000 values (aliases expand too far)"
    assert err.file == "proj/pawflow.yaml"


def test_aliases_within_limits_are_expanded(project: ProjectDir) -> None:
    text = BASE.replace("      webhook: {}", "      webhook: &hook {methods: [GET]}")
    text += "    - name: other\n      webhook: *hook\n      call: program.py:on_greet\n"
    manifest = project.load(text)
    assert [t.webhook.methods for t in manifest.project.triggers if t.webhook] == [
        ("GET",),
        ("GET",),
    ]


def test_yaml_1_1_booleans_stay_strings_as_keys(project: ProjectDir) -> None:
    # `on` is the boolean true in YAML 1.1; as a key it must keep its text.
    err = project.error(BASE + "on: push\n")
    assert where(err) == ("proj/pawflow.yaml", 11, "on")
    assert err.message == "unknown key 'on' (known keys: version, project)"


def test_file_over_one_mebibyte(project: ProjectDir) -> None:
    err = project.error(BASE + "#" * (1024 * 1024) + "\n")
    assert where(err) == ("proj/pawflow.yaml", None, "")
    assert err.message == "file is larger than 1 MiB"


def test_file_of_exactly_one_mebibyte_is_read(project: ProjectDir) -> None:
    padding = 1024 * 1024 - len(BASE.encode()) - 1
    manifest = project.load(BASE + "#" * padding + "\n")
    assert manifest.project.name == "hello"


def test_invalid_utf8(project: ProjectDir) -> None:
    err = project.error(BASE.encode().replace(b"value: Hello", b"value: H\xe9llo"))
    assert where(err) == ("proj/pawflow.yaml", 6, "")
    assert err.message == "not valid UTF-8 (byte 0xe9)"


def test_utf8_bom_is_accepted(project: ProjectDir) -> None:
    manifest = project.load(b"\xef\xbb\xbf" + BASE.replace("Hello", "Grüß dich").encode())
    assert manifest.project.vars[0].value == "Grüß dich"


def test_missing_file_is_named(project: ProjectDir) -> None:
    with pytest.raises(ManifestError) as info:
        load_manifest(project.root / "nope" / MANIFEST_FILE, display="proj/nope")
    assert str(info.value) == "proj/nope/pawflow.yaml: file not found"


def test_directory_instead_of_file(project: ProjectDir) -> None:
    (project.root / "sub" / MANIFEST_FILE).mkdir(parents=True)
    with pytest.raises(ManifestError) as info:
        load_manifest(project.root / "sub" / MANIFEST_FILE, display="sub")
    assert str(info.value) == "sub/pawflow.yaml: is a directory, not a file"
