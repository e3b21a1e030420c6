"""Hostile scenario files: each is refused fast, in bounded memory, with file, line and key named.

Every family of bad input a user (or a fuzzer) can hand `chaosgate validate` gets a story here:
undecodable bytes, tags, complex keys, recursive aliases, alias bombs, deep nesting, huge files,
control characters, misspelt keys, values out of bounds and toxics without their attributes. A
property test then throws random bytes and mutated shipped scenarios at the loader: nothing but
chaosgate's ValidationError may come out.
"""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaosgate import yamlio
from chaosgate.config import load_topology
from chaosgate.errors import ValidationError
from chaosgate.scenario import Scenario, load_scenario
from chaosgate.scenario.models import ToxiproxyFault
from chaosgate.topology import Topology

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))

BASE = """\
name: demo
title: A demo
target: redis
faults:
  - injector: toxiproxy
    proxy: redis
    down: true
    duration: 20s
expect:
  auth.login: degraded
"""  # ten lines; the cases below add from line 11

SECONDS_LIMIT = 1.0
# The pure-Python parser, used only where PyYAML lacks libyaml, is ten times slower: it is held to
# finishing, not to the second.
FALLBACK_SECONDS_LIMIT = 5.0
BYTES_LIMIT = 100 * 1024 * 1024


@pytest.fixture(params=["libyaml", "python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test with the C parser and again with the pure-Python fallback used where libyaml is missing."""
    if request.param == "python":
        monkeypatch.setattr(yamlio, "_EVENT_SOURCE", yaml.SafeLoader)
    elif not yaml.__with_libyaml__:
        pytest.skip("PyYAML was built without libyaml")
    yield request.param


@pytest.fixture(scope="module")
def topology() -> Topology:
    return load_topology(ROOT / "chaos.yaml")


def write(tmp_path: Path, content: str | bytes, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def refusal(path: Path) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        load_scenario(path)
    return caught.value


def assert_located(error: ValidationError, path: Path, line: int, key: str, fragment: str) -> None:
    """The first problem names the file, the line and the key, and says what is wrong."""
    assert error.location is not None, str(error)
    assert Path(error.location.file) == path
    assert (error.location.line, error.location.key) == (line, key), str(error)
    assert fragment in error.detail, str(error)
    assert str(error).startswith(f"{path}:{line}: {key}: " if key else f"{path}:{line}: ")


def measured(action: Callable[[], object]) -> tuple[float, int, BaseException | None]:
    """Seconds (timed alone: tracemalloc slows allocation) and peak traced bytes of `action`."""
    outcome: BaseException | None = None
    start = time.perf_counter()
    try:
        action()
    except ValidationError as exc:
        outcome = exc
    seconds = time.perf_counter() - start
    tracemalloc.start()
    try:
        action()
    except ValidationError:
        pass
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return seconds, peak, outcome


def refused_fast_and_small(path: Path) -> ValidationError:
    seconds, peak, outcome = measured(lambda: load_scenario(path))
    assert isinstance(outcome, ValidationError), "the hostile file was accepted"
    limit = SECONDS_LIMIT if yamlio._EVENT_SOURCE is not yaml.SafeLoader else FALLBACK_SECONDS_LIMIT
    assert seconds < limit, f"took {seconds:.2f} s"
    assert peak < BYTES_LIMIT, f"peak {peak / 1e6:.0f} MB"
    return outcome


# -- decoding


def test_a_latin1_file_is_refused_at_the_line_of_the_first_undecodable_byte(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("A demo", "Café demo").encode("latin-1"))
    error = refusal(path)
    assert_located(error, path, 2, "", "not UTF-8 text: byte 0xe9")
    assert "save the file as UTF-8" in error.detail


def test_random_bytes_and_utf16_are_refused_as_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, b"name: demo\ntitle: \x80\xff\xfe\n")
    assert_located(refusal(path), path, 2, "", "not UTF-8 text: byte 0x80")
    path = write(tmp_path, BASE.encode("utf-16"))
    assert_located(refusal(path), path, 1, "", "UTF-16")


# -- tags


@pytest.mark.parametrize(
    ("replace", "by", "line", "key", "fragment"),
    [
        ("title: A demo", "title: !!python/object/apply:os.system ['true']", 2, "title", "!!python/object"),
        ("title: A demo", "title: !!python/name:os.system ''", 2, "title", "!!python/name:os.system"),
        ("title: A demo", "title: !!binary aGVsbG8=", 2, "title", "'!!binary' is not allowed"),
        ("faults:", "faults: !!set", 4, "faults", "'!!set' is not allowed"),
        ("expect:", "expect: !checked", 9, "expect", "'!checked' is not allowed"),
        ("title: A demo", "title: !!int A demo", 2, "title", "'A demo' is not a valid int"),
        ("faults:", "faults: !!map", 4, "faults", "'!!map' is not allowed"),  # on a list
        ("expect:", "weight: !!float ''\nexpect:", 9, "weight", "'' is not a valid float"),
    ],
    ids=[
        "python-object",
        "python-name",
        "binary",
        "set-on-list",
        "local-tag",
        "bad-int",
        "map-on-list",
        "empty-float",
    ],
)
def test_a_tag_other_than_the_standard_ones_is_refused_where_written(
    tmp_path: Path, parser: str, replace: str, by: str, line: int, key: str, fragment: str
) -> None:
    path = write(tmp_path, BASE.replace(replace, by))
    assert_located(refusal(path), path, line, key, fragment)


def test_standard_tags_still_mean_what_yaml_says(tmp_path: Path) -> None:
    text = BASE.replace("title: A demo", "title: !!str 123") + "weight: !!float 2\ndescription: ! 12\n"
    scenario = load_scenario(write(tmp_path, text))
    assert (scenario.title, scenario.weight, scenario.description) == ("123", 2.0, "12")


# -- complex and merge keys


@pytest.mark.parametrize(
    ("tail", "line", "key", "fragment"),
    [
        ("recovery:\n  ? [target, timeout]\n  : 1s\n", 12, "recovery", "not a list or a mapping"),
        ("recovery:\n  {target: 1s}: 5s\n", 12, "recovery", "not a list or a mapping"),
        ("exercises: &names [a]\nrecovery:\n  *names : 1s\n", 13, "recovery", "*names is a list"),
        ("recovery:\n  <<: {target: 1s}\n", 12, "recovery", "merge keys (<<) are not supported"),
        ("recovery:\n  yes: 1s\n", 12, "recovery", "keys must be strings"),
    ],
    ids=["question-mark", "flow-mapping", "alias-to-list", "merge", "boolean"],
)
def test_a_key_that_is_not_plain_text_is_refused(
    tmp_path: Path, parser: str, tail: str, line: int, key: str, fragment: str
) -> None:
    path = write(tmp_path, BASE + tail)
    assert_located(refusal(path), path, line, key, fragment)


# -- aliases


def test_a_recursive_alias_is_refused_at_the_alias(tmp_path: Path, parser: str) -> None:
    path = write(tmp_path, BASE + "exercises: &loop [redis_fallback, *loop]\n")
    assert_located(refusal(path), path, 11, "exercises[1]", "recursive alias")


def test_an_alias_to_nothing_is_refused(tmp_path: Path, parser: str) -> None:
    path = write(tmp_path, BASE + "exercises: [*nowhere]\n")
    assert_located(refusal(path), path, 11, "exercises[0]", "*nowhere names no anchor")


def test_an_anchor_defined_twice_and_a_second_document_are_refused(tmp_path: Path, parser: str) -> None:
    path = write(tmp_path, BASE + "exercises: [&x a, &x b]\n")
    assert_located(refusal(path), path, 11, "exercises[1]", "anchor &x is defined twice (first on line 11)")
    path = write(tmp_path, BASE + "---\nname: other\n")
    assert_located(refusal(path), path, 11, "", "one YAML document")


def test_scalar_and_small_list_aliases_still_work(tmp_path: Path) -> None:
    text = BASE.replace("proxy: redis", "proxy: &link redis") + "exercises: &fixes [a, b]\ntarget: *link\n"
    path = write(tmp_path, text.replace("target: redis\n", ""))
    assert load_scenario(path).target == "redis"


def test_a_billion_laughs_alias_bomb_is_refused_in_a_blink(tmp_path: Path, parser: str) -> None:
    levels = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    path = write(tmp_path, BASE + "description:\n" + "".join(f"  {level}\n" for level in levels))
    error = refused_fast_and_small(path)
    assert error.location is not None and error.location.line > 11
    assert error.location.key.startswith("description.l")
    assert "aliases are expanded" in error.detail


# -- nesting


def test_deeply_nested_flow_lists_are_refused(tmp_path: Path, parser: str) -> None:
    path = write(tmp_path, BASE + "exercises: " + "[" * 50_000 + "]" * 50_000 + "\n")
    error = refused_fast_and_small(path)
    assert error.location is not None and error.location.line == 11
    assert error.location.key.startswith("exercises")
    assert "nest" in error.detail


def test_deeply_nested_block_mappings_are_refused_at_the_limit(tmp_path: Path, parser: str) -> None:
    nested = "".join("  " * depth + f"k{depth}:\n" for depth in range(200))
    path = write(tmp_path, BASE + "description:\n" + "  " + nested.replace("\n", "\n  ").rstrip() + "\n")
    error = refused_fast_and_small(path)
    assert error.location is not None
    assert error.location.line == 11 + yamlio.MAX_DEPTH  # where the mapping one level too deep starts
    assert error.location.key.startswith("description.k0.k1.k2")
    assert f"nested more than {yamlio.MAX_DEPTH} deep" in error.detail


# -- size


def test_a_five_megabyte_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "description: |\n" + "  a line of text that goes on\n" * 170_000)
    assert path.stat().st_size > 5_000_000
    error = refused_fast_and_small(path)
    assert error.location is not None and Path(error.location.file) == path
    assert "larger than 1,000,000 bytes" in error.detail


def test_a_megabyte_of_list_items_stops_at_the_value_budget(tmp_path: Path, parser: str) -> None:
    path = write(tmp_path, BASE + "exercises: [" + "a, " * 300_000 + "a]\n")
    assert path.stat().st_size < yamlio.MAX_FILE_BYTES
    error = refused_fast_and_small(path)
    assert error.location is not None and error.location.key.startswith("exercises[")
    assert f"more than {yamlio.MAX_NODES:,} values" in error.detail


# -- control characters


def test_a_nul_byte_is_refused_with_its_line(tmp_path: Path, parser: str) -> None:
    path = write(tmp_path, BASE.replace("target: redis", "target: re\x00dis"))
    assert_located(refusal(path), path, 3, "", "U+0000 in column 11")


# -- misspelt keys, and every problem at once


def test_a_misspelt_key_is_named_with_a_suggestion_instead_of_a_missing_key(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("faults:", "fautls:"))
    error = refusal(path)
    assert_located(error, path, 4, "fautls", "unknown key 'fautls' (did you mean 'faults'?)")
    assert "missing required key" not in str(error)
    assert len(error.problems) == 1


def test_every_problem_of_a_file_is_reported_at_once_in_line_order(tmp_path: Path) -> None:
    text = (
        BASE.replace("title:", "titel:").replace("duration:", "duraton:").replace("degraded", "degradd")
        + "recovery: {timeuot: 60s}\n"
    )
    path = write(tmp_path, text)
    error = refusal(path)
    found = [(p.location.line, p.location.key) for p in error.problems if p.location]
    assert found == [
        (2, "titel"),
        (8, "faults[0].duraton"),
        (10, "expect.auth.login"),
        (11, "recovery.timeuot"),
    ]
    text = str(error)
    for fragment in ("'title'?", "'duration'?", "'degraded'?", "'timeout'?"):
        assert f"(did you mean {fragment})" in text
    assert "missing required key" not in text
    assert all(line.startswith(f"{path}:") for line in text.splitlines())


def test_the_cli_prints_one_line_per_problem(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("title:", "titel:").replace("redis\n    down", "redis\n    dwon"))
    result = subprocess.run(
        [sys.executable, "-m", "chaosgate", "validate", "--no-topology", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"invalid  {path}:2: titel: unknown key")
    assert lines[1].startswith(
        f"         {path}:7: faults[0].dwon: unknown key 'dwon' (did you mean 'down'?)"
    )


# -- bounds


@pytest.mark.parametrize(
    ("text", "line", "key", "fragment"),
    [
        (BASE.replace("20s", "999999h"), 8, "faults[0].duration", "at most 24h"),
        (BASE.replace("duration: 20s", "duration: 20s\n    start: 25h"), 9, "faults[0].start", "at most 24h"),
        (BASE + "steady_state: {window: 2000m}\n", 11, "steady_state.window", "at most 24h"),
        (BASE + "recovery: {timeout: 1000000}\n", 11, "recovery.timeout", "at most 24h"),
        (BASE.replace("name: demo", "name: " + "a" * 10_000), 1, "name", "at most 64 characters"),
        (BASE.replace("A demo", "T" * 201), 2, "title", "at most 200 characters"),
        (BASE.replace("proxy: redis", "proxy: " + "p" * 65), 6, "faults[0].proxy", "at most 64 characters"),
        (BASE + "exercises: [" + ", ".join(["x"] * 51) + "]\n", 11, "exercises", "at most 50 items"),
        (
            BASE.replace(
                "faults:\n", "faults:\n" + "  - {injector: process, service: chat, duration: 1s}\n" * 50
            ),
            4,
            "faults",
            "at most 50 items",
        ),
        (
            BASE + "".join(f"  f{i}.x: served\n" for i in range(200)),
            9,
            "expect",
            "at most 200 items",
        ),
        (
            BASE.replace("down: true", "toxic: {type: latency, attributes: {latency: 10000000}}"),
            7,
            "faults[0].toxic.attributes.latency",
            "latency is 0 to 600000 ms (got 10000000)",
        ),
        (
            BASE.replace("down: true", "toxic: {type: bandwidth, attributes: {rate: 0}}"),
            7,
            "faults[0].toxic.attributes.rate",
            "rate is 1 to 10000000 KB/s",
        ),
        (
            BASE.replace("down: true", "toxic: {type: latency, attributes: {latency: 5}, toxicity: 0}"),
            7,
            "faults[0].toxic.toxicity",
            "greater than 0",
        ),
    ],
    ids=[
        "fault-duration",
        "fault-start",
        "steady-window",
        "recovery-timeout",
        "name-length",
        "title-length",
        "proxy-length",
        "exercises-count",
        "faults-count",
        "expect-count",
        "latency-ms",
        "bandwidth-zero",
        "toxicity-zero",
    ],
)
def test_values_past_their_bounds_are_refused(
    tmp_path: Path, text: str, line: int, key: str, fragment: str
) -> None:
    path = write(tmp_path, text)
    error = refusal(path)
    assert_located(error, path, line, key, fragment)
    assert len(str(error)) < 1000, "a long value is shown cut short"


def test_a_day_long_fault_is_still_allowed(tmp_path: Path) -> None:
    fault = load_scenario(write(tmp_path, BASE.replace("20s", "24h"))).faults[0]
    assert fault.duration == 24 * 3600


# -- toxics and their attributes

REQUIRED_ATTRIBUTE = {
    "latency": "latency",
    "bandwidth": "rate",
    "slow_close": "delay",
    "timeout": "timeout",
    "reset_peer": "timeout",
    "slicer": "average_size",
    "limit_data": "bytes",
}


@pytest.mark.parametrize(("toxic", "attribute"), REQUIRED_ATTRIBUTE.items())
def test_a_toxic_without_its_required_attribute_is_refused(
    tmp_path: Path, toxic: str, attribute: str
) -> None:
    path = write(tmp_path, BASE.replace("down: true", f"toxic: {{type: {toxic}}}"))
    assert_located(
        refusal(path), path, 7, "faults[0].toxic.attributes", f"toxic {toxic!r} needs attribute {attribute!r}"
    )
    path = write(
        tmp_path, BASE.replace("down: true", f"toxic: {{type: {toxic}, attributes: {{{attribute}: 100}}}}")
    )
    fault = load_scenario(path).faults[0]
    assert isinstance(fault, ToxiproxyFault) and fault.toxic is not None
    assert fault.toxic.attributes == {attribute: 100}


def test_a_misspelt_toxic_attribute_gets_a_suggestion(tmp_path: Path) -> None:
    path = write(
        tmp_path, BASE.replace("down: true", "toxic:\n      type: latency\n      attributes: {latncy: 100}")
    )
    assert_located(
        refusal(path),
        path,
        9,
        "faults[0].toxic.attributes.latncy",
        "toxic 'latency' has no attribute 'latncy' (did you mean 'latency'?); valid: latency, jitter",
    )


def test_latency_without_delay_or_jitter_is_refused_as_a_no_op(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("down: true", "toxic: {type: latency, attributes: {latency: 0}}"))
    assert_located(refusal(path), path, 7, "faults[0].toxic.attributes.latency", "adds no delay")
    jitter = BASE.replace("down: true", "toxic: {type: latency, attributes: {latency: 0, jitter: 50}}")
    assert isinstance(load_scenario(write(tmp_path, jitter)), Scenario)


# -- the CLI


def test_validate_refuses_hostile_files_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    files = {
        write(tmp_path, BASE.replace("A demo", "Café").encode("latin-1"), "latin1.yaml"): 2,
        write(tmp_path, BASE.replace("A demo", "!!python/name:os.system ''"), "tag.yaml"): 2,
        write(tmp_path, BASE + "exercises: &a [x, *a]\n", "recursive.yaml"): 11,
        write(tmp_path, BASE + "exercises: " + "[" * 5000 + "]" * 5000 + "\n", "deep.yaml"): 11,
        write(tmp_path, BASE.replace("faults:", "fautls:"), "typo.yaml"): 4,
    }
    result = subprocess.run(
        [sys.executable, "-m", "chaosgate", "validate", "--no-topology", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    for path, line in files.items():
        assert f"invalid  {path}:{line}: " in result.stderr


# -- property: nothing but a ValidationError ever comes out

# Bytes that YAML gives meaning to, so mutations reach the parser's and the builder's corners.
TOKENS = [
    b"&a ",
    b"*a",
    b"&b [*a, *a, *a]",
    b"!!",
    b"!!python/object:os.system ",
    b"!x ",
    b"? ",
    b": ",
    b"- ",
    b"[",
    b"]",
    b"{",
    b"}",
    b"<<: ",
    b"\t",
    b"\n",
    b"\n  ",
    b"#",
    b"'",
    b'"',
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xe2\x80\xa8",
    b"---\n",
    b"...\n",
    b"%YAML 1.1\n",
    b"|",
    b">",
    b"~",
    b"1e999",
    b".nan",
    b"0x1F",
    b"2024-13-45",
    b"99999999999h",
    b"9" * 5000,
    b"yes",
    b"=",
]
MUTATION = st.tuples(
    st.integers(min_value=0, max_value=2_000),
    st.integers(min_value=0, max_value=40),
    st.one_of(st.sampled_from(TOKENS), st.binary(max_size=12)),
)
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def load_only_validation_errors(path: Path, content: bytes, topology: Topology | None = None) -> None:
    path.write_bytes(content)
    try:
        load_scenario(path, topology)
    except ValidationError as exc:
        assert exc.problems and all(str(problem) for problem in exc.problems)
        assert exc.location is None or Path(exc.location.file) == path


@PROPERTY
@given(content=st.binary(max_size=3_000))
def test_random_bytes_only_ever_raise_validation_errors(
    tmp_path_factory: pytest.TempPathFactory, content: bytes
) -> None:
    load_only_validation_errors(tmp_path_factory.getbasetemp() / "random.yaml", content)


@PROPERTY
@given(source=st.sampled_from(SHIPPED), mutations=st.lists(MUTATION, min_size=1, max_size=6))
def test_mutated_shipped_scenarios_only_ever_raise_validation_errors(
    tmp_path_factory: pytest.TempPathFactory,
    topology: Topology,
    source: Path,
    mutations: list[tuple[int, int, bytes]],
) -> None:
    content = source.read_bytes()
    for at, cut, insert in mutations:
        at %= len(content) + 1
        content = content[:at] + insert + content[at + cut :]
    load_only_validation_errors(tmp_path_factory.getbasetemp() / "mutated.yaml", content, topology)
