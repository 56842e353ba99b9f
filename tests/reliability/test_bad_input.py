"""Bad input, as a corpus: runbooks mutated from the sandbox runbook (wrong types, out of
range, missing and unknown keys, broken YAML, alias bombs, huge values, unicode, paths that do
not exist) and flag values for every command. Every case exits 2 — or 3 where the input is
valid and the (empty) world is not — with a message naming what is wrong, never a traceback
or 70, and the state directory stays byte-for-byte as it was.

The command line runs in this process (``flexmigrate.cli.main``): thousands of cases fit in
seconds. Hypothesis draws them from a fixed seed with a bounded number of examples, so CI
time and the case count stay fixed; ``FLEXMIGRATE_BAD_INPUT_EXAMPLES`` raises the count for
a longer hunt. Each test adds its cases to ``CASES``, printed at the end."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from flexmigrate.cli import main
from flexmigrate.state.model import State, StepState, StepStatus
from flexmigrate.state.store import LocalStateStore
from tests.conftest import REPO, SANDBOX_RUNBOOK, MotoServer

EXAMPLES = int(os.environ.get("FLEXMIGRATE_BAD_INPUT_EXAMPLES", "20"))
SEED = 18
RUNBOOKS = REPO / "runbooks"
CASES: dict[str, int] = {}
_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=False,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _base() -> dict[str, Any]:
    yaml = YAML(typ="safe")
    loaded: dict[str, Any] = yaml.load(SANDBOX_RUNBOOK.read_text())
    # relative paths inside a runbook are relative to it: the mutants live elsewhere
    loaded["lb_controller"]["manifests"] = str(RUNBOOKS / loaded["lb_controller"]["manifests"])
    loaded["app"]["manifests"] = str(RUNBOOKS / loaded["app"]["manifests"])
    return loaded


BASE = _base()


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


PATHS = _paths(BASE)


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


LEAVES = [p for p in PATHS if not isinstance(_get(BASE, p), dict | list)]
NUMBERS = [p for p in LEAVES if isinstance(_get(BASE, p), int | float)]
MAPPINGS = [()] + [p for p in PATHS if isinstance(_get(BASE, p), dict)]


def _copy() -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(BASE))
    return copied


def _set(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    node: Any = document
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _delete(document: dict[str, Any], path: tuple[Any, ...]) -> None:
    node: Any = document
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]


def _dump(document: dict[str, Any]) -> str:
    stream = io.StringIO()
    yaml = YAML()
    yaml.width = 4096
    yaml.dump(document, stream)
    return stream.getvalue()


# -- the world the cases meet: an empty account, a state directory with a state in it --------


@pytest.fixture(scope="module")
def world(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    moto_server.reset()
    root = tmp_path_factory.mktemp("bad-input")
    store = LocalStateStore(root / "state" / str(BASE["name"]))
    state = State(runbook=str(BASE["name"]))
    phase = state.phase("phase-1", "cluster-foundation")
    phase.steps.append(StepState("iam-roles", StepStatus.COMPLETED, 1, outputs={"role": "r"}))
    store.save(state)
    store.journal("phase_started", phase="phase-1")
    store.close()
    saved = dict(os.environ)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "af-south-1",
            "AWS_ENDPOINT_URL": moto_server.url,
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "NO_COLOR": "1",
        }
    )
    os.environ.pop("FLEXMIGRATE_RUNBOOK", None)
    try:
        yield root
    finally:
        os.environ.clear()
        os.environ.update(saved)
    print("\nbad inputs tried: " + ", ".join(f"{k} {v}" for k, v in sorted(CASES.items())))
    print(f"bad inputs tried in all: {sum(CASES.values())}")


def _snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mode, p.read_bytes() if p.is_file() else b"")
        for p in sorted(root.rglob("*"))
    }


def _cli(root: Path, *args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--state-dir", str(root / "state"), "-vv", *args])
    return code, err.getvalue() + out.getvalue()


def _check(root: Path, kind: str, args: list[str], *, naming: list[str]) -> int:
    """Run one case; exit 2 (or 3 for valid input), a message naming ``naming`` (any of), no
    traceback, the state directory unchanged."""
    before = _snapshot(root / "state")
    code, text = _cli(root, *args)
    after = _snapshot(root / "state")
    CASES[kind] = CASES.get(kind, 0) + 1
    shown = f"{kind}: {args[:6]} → {code}\n{text[-1500:]}"
    assert code in (2, 3), shown
    assert "Traceback" not in text and "crash log" not in text, shown
    assert after == before, f"{shown}\nthe state directory changed"
    if code == 2 and naming:
        assert any(name.lower() in text.lower() for name in naming), (
            f"{shown}\nnames none of {naming}"
        )
    return code


def _runbook_case(root: Path, kind: str, text: str, naming: list[str]) -> None:
    path = root / "mutant.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    code = _check(root, kind, ["--runbook", str(path), "plan", "phase-1"], naming=naming)
    if code == 3:  # valid input meeting an empty world: the runbook must validate
        valid, shown = _cli(root, "runbook", "validate", str(path))
        assert valid == 0, f"{kind}: exit 3 for a runbook that does not validate\n{shown}"


def _field(path: tuple[Any, ...]) -> str:
    return str(path[-1]) if not isinstance(path[-1], int) else str(path[-2])


# -- runbooks -------------------------------------------------------------------------------

OTHER_TYPES = st.one_of(
    st.lists(st.integers(), min_size=1, max_size=3),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(), min_size=1),
    st.just(None),
    st.booleans(),
    st.text(alphabet="xyz!", min_size=1, max_size=8),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9),
)


@seed(SEED)
@_SETTINGS
@given(path=st.sampled_from(LEAVES), value=OTHER_TYPES)
def test_a_value_of_another_type(world: Path, path: tuple[Any, ...], value: Any) -> None:
    document = _copy()
    if type(value) is type(_get(document, path)) or value == _get(document, path):
        return
    _set(document, path, value)
    _runbook_case(world, "wrong type", _dump(document), [_field(path), "mutant.yaml"])


@seed(SEED)
@_SETTINGS
@given(
    path=st.sampled_from(NUMBERS),
    value=st.sampled_from([-1, 0, -(10**6), 10**12, 10**40, 2**63, 0.5, -0.001]),
)
def test_a_number_out_of_range(world: Path, path: tuple[Any, ...], value: Any) -> None:
    document = _copy()
    _set(document, path, value)
    _runbook_case(world, "out of range", _dump(document), [_field(path), "mutant.yaml"])


@seed(SEED)
@_SETTINGS
@given(path=st.sampled_from(PATHS))
def test_a_key_missing(world: Path, path: tuple[Any, ...]) -> None:
    document = _copy()
    _delete(document, path)
    _runbook_case(world, "missing key", _dump(document), [_field(path), "mutant.yaml"])


@seed(SEED)
@_SETTINGS
@given(
    where=st.sampled_from(MAPPINGS),
    key=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12),
    value=st.one_of(st.integers(), st.text(max_size=5), st.just({"x": 1})),
)
def test_an_unknown_key(world: Path, where: tuple[Any, ...], key: str, value: Any) -> None:
    document = _copy()
    node = _get(document, where)
    if key in node:
        return
    node["zz" + key] = value
    _runbook_case(world, "unknown key", _dump(document), ["zz" + key])


@seed(SEED)
@_SETTINGS
@given(data=st.data())
def test_broken_yaml(world: Path, data: st.DataObject) -> None:
    text = _dump(_copy())
    lines = text.splitlines(keepends=True)
    line = data.draw(st.integers(min_value=0, max_value=len(lines) - 1))
    breakage = data.draw(
        st.sampled_from(["unclosed", "tab", "dedent", "colon", "truncate", "bytes", "duplicate"])
    )
    if breakage == "unclosed":
        lines[line] = lines[line].rstrip("\n") + " [unclosed\n"
    elif breakage == "tab":
        lines[line] = "\t" + lines[line]
    elif breakage == "dedent":
        lines[line] = " " + lines[line]
    elif breakage == "colon":
        lines[line] = lines[line].replace(":", "", 1) + "  : :\n"
    elif breakage == "truncate":
        lines = [*lines[:line], lines[line][: len(lines[line]) // 2]]
    elif breakage == "bytes":
        lines[line] = "\x00\x07\ufffe" + lines[line]
    else:
        first = next(i for i, t in enumerate(lines) if not t.startswith((" ", "#")))
        lines.append(lines[first])
    _runbook_case(world, "broken YAML", "".join(lines), ["mutant.yaml"])


def test_alias_bombs_and_anchors(world: Path) -> None:
    laughs = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, 10):
        refs = ",".join([f"*a{n - 1}"] * 9)
        laughs.append(f"a{n}: &a{n} [{refs}]")
    bomb = "\n".join(laughs) + "\n"
    base = _dump(_copy())
    cases = {
        "billion laughs": bomb + base,
        "bomb in a field": base.replace("description:", bomb + "description:", 1),
        "recursive alias": "name: &loop [*loop]\n" + base,
        "alias to nothing": base.replace("description:", "description: *nowhere\nx:", 1),
        "merge of a scalar": base.replace("cluster:\n", "cluster:\n  <<: 5\n", 1),
    }
    for label, text in cases.items():
        _runbook_case(world, "alias bomb", text, ["mutant.yaml"])
        assert label


@seed(SEED)
@_SETTINGS
@given(
    path=st.sampled_from(LEAVES),
    size=st.sampled_from([10**4, 10**5, 10**6]),
    shape=st.sampled_from(["string", "list", "deep"]),
)
def test_huge_values(world: Path, path: tuple[Any, ...], size: int, shape: str) -> None:
    document = _copy()
    value: Any
    if shape == "string":
        value = "x" * size
    elif shape == "list":
        value = list(range(size // 10))
    else:
        value = "leaf"
        for _ in range(min(size // 1000, 500)):
            value = {"d": value}
    _set(document, path, value)
    # JSON is YAML too, and its writer takes any depth
    _runbook_case(world, "huge value", json.dumps(document), [_field(path), "mutant.yaml"])


@seed(SEED)
@_SETTINGS
@given(
    path=st.sampled_from([p for p in LEAVES if isinstance(_get(BASE, p), str)]),
    value=st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=20
    ),
)
def test_unicode_values(world: Path, path: tuple[Any, ...], value: str) -> None:
    document = _copy()
    if value == _get(document, path):
        return
    _set(document, path, value)
    _runbook_case(world, "unicode", _dump(document), [_field(path), "mutant.yaml"])


@pytest.mark.parametrize(
    "field", [("app", "manifests"), ("lb_controller", "manifests"), ("cost", "prices")]
)
def test_paths_that_do_not_exist(world: Path, field: tuple[str, str]) -> None:
    document = _copy()
    _set(document, field, "/nonexistent/flexmigrate/" + field[1])
    _runbook_case(world, "missing path", _dump(document), ["nonexistent", field[1]])


def test_a_runbook_that_does_not_exist_or_is_not_a_file(world: Path) -> None:
    for target in ("/nonexistent/runbook.yaml", str(world), "/dev/null"):
        _check(world, "missing path", ["--runbook", target, "plan", "phase-1"], naming=[target])


# -- flags of every command -------------------------------------------------------------------

NOT_A_PHASE = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-0123456789", min_size=1, max_size=12)
NOT_A_PERCENT = st.one_of(
    st.integers().filter(lambda n: not 0 <= n <= 100).map(str),
    st.text(alphabet="abc.%", min_size=1, max_size=5),
)
NOT_A_DURATION = st.text(alphabet="abcxyz-!. ", min_size=1, max_size=6)
NOT_A_REPORT = st.text(alphabet="abcxyz", min_size=1, max_size=4).map(lambda s: f"r.{s}")
_PHASES = {f"phase-{n}" for n in range(1, 6)} | {
    "cluster-foundation",
    "lb-controller",
    "app-deploy",
    "traffic-shift",
    "decommission",
    "all",
}


def _flag_cases(value: str) -> list[tuple[str, list[str], list[str]]]:
    """(kind, argv after the runbook, what the message names) for one drawn value."""
    return [
        ("flag: run PHASE", ["run", value], [value, "phase"]),
        ("flag: plan PHASE", ["plan", value], [value, "phase"]),
        ("flag: rollback PHASE", ["rollback", value, "--dry-run"], [value, "phase"]),
        ("flag: rollback --change PHASE", ["rollback", "--change", value], [value, "phase"]),
    ]


@seed(SEED)
@_SETTINGS
@given(value=NOT_A_PHASE)
def test_phase_arguments(world: Path, value: str) -> None:
    if value in _PHASES or value.startswith("-"):  # an option, not a phase
        return
    for kind, args, naming in _flag_cases(value):
        _check(world, kind, ["--runbook", str(SANDBOX_RUNBOOK), *args], naming=naming)


@seed(SEED)
@_SETTINGS
@given(percent=NOT_A_PERCENT, bake=NOT_A_DURATION, report=NOT_A_REPORT)
def test_option_values(world: Path, percent: str, bake: str, report: str) -> None:
    runbook = ["--runbook", str(SANDBOX_RUNBOOK)]
    cases = [
        ("flag: --percent", ["shift-traffic", "--percent", percent], ["--percent"]),
        ("flag: --bake", ["shift-traffic", "--percent", "50", "--bake", bake], ["--bake"]),
        ("flag: --output", ["--output", bake, "status"], ["--output"]),
        ("flag: --report", ["plan", "phase-1", "--report", report], [report, "report"]),
        ("flag: report FILE", ["report", report], [report, "report"]),
        ("flag: rehearse --inject", ["rehearse", "--inject", "zz" + bake], ["inject"]),
        ("flag: state restore --version", ["state", "restore", "--version", bake], ["version"]),
        ("flag: unknown option", ["status", "--" + "zz" + bake.strip()], ["no such option"]),
    ]
    for kind, args, naming in cases:
        _check(world, kind, [*runbook, *args], naming=naming)


@seed(SEED)
@_SETTINGS
@given(spec=st.text(alphabet="abcxyz=.-!0123456789@", min_size=1, max_size=12))
def test_fault_specs(world: Path, spec: str) -> None:
    known = re.match(r"^(aws-throttle|eks-|metric|rollout|targets|iam-)", spec)
    if known:
        return
    _check(
        world,
        "flag: sandbox inject",
        ["sandbox", "inject", spec, "--dir", str(world / "no-sandbox")],
        naming=["sandbox", spec],
    )
