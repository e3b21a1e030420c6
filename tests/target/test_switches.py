"""Switches and settings: profiles resolve to the right switches, overrides apply, bad input is named."""

from __future__ import annotations

import pytest

from target_system.settings import Settings, Tunables
from target_system.switches import Profile, Switch, Switches, profile_switches

EXPECTED = {
    "request_timeout",
    "store_timeouts",
    "circuit_breaker",
    "proxy_timeouts",
    "redis_retry",
    "redis_fallback",
    "message_cache",
    "pool_limits",
    "health_deps",
    "ws_cap",
    "presence_fail_open",
    "polling_fallback",
    "cleanup_jobs",
    "push_timeouts",
    "push_outbox",
    "persist_first",
    "gateway_bulkheads",
    "pubsub_reconnect",
}


def test_every_switch_is_declared_with_its_lowercase_name() -> None:
    assert {s.value for s in Switch} == EXPECTED
    assert all(s.value == s.name.lower() for s in Switch)


def test_baseline_is_all_off_and_hardened_all_on() -> None:
    assert not any(Switches.resolve("baseline").as_dict().values())
    assert all(Switches.resolve("hardened").as_dict().values())
    assert Switches.resolve(Profile.HARDENED).profile is Profile.HARDENED


def test_reported_is_exactly_the_hardening_reports_six_fixes() -> None:
    # #1 DB/request timeouts, #2 and #5 cleanup jobs, #3 breaker, #4 proxy timeout, #6 Redis retry.
    assert profile_switches("reported") == {
        Switch.REQUEST_TIMEOUT,
        Switch.STORE_TIMEOUTS,
        Switch.CLEANUP_JOBS,
        Switch.CIRCUIT_BREAKER,
        Switch.PROXY_TIMEOUTS,
        Switch.REDIS_RETRY,
    }
    assert Switches.resolve("REPORTED").enabled == profile_switches(Profile.REPORTED)
    assert Switches.resolve("reported").profile is Profile.REPORTED


def test_verified_has_none_of_the_six_fixes_in_place() -> None:
    # The verification report's table: #2 partial (a method nothing calls), the rest not implemented.
    assert profile_switches("verified") == frozenset()
    assert Switches.resolve("verified", "redis_retry=on").enabled == {Switch.REDIS_RETRY}


def test_every_profile_resolves_to_its_switches() -> None:
    assert profile_switches("baseline") == frozenset()
    assert profile_switches("hardened") == frozenset(Switch)
    for profile in Profile:
        assert Switches.resolve(profile).enabled == profile_switches(profile)


def test_sc_profile_reported_reaches_the_settings() -> None:
    settings = Settings.from_env({"SC_PROFILE": "reported", "SC_SWITCHES": "cleanup_jobs=off"})
    assert settings.switches.profile is Profile.REPORTED
    assert settings.switches.enabled == profile_switches("reported") - {Switch.CLEANUP_JOBS}


def test_sizes_are_the_libraries_defaults_in_every_profile() -> None:
    tun = Tunables()
    assert tun.pool_size == 10  # asyncpg create_pool(max_size=10)
    assert not hasattr(tun, "baseline_pool_size")
    assert (tun.legacy_ws_cap, tun.legacy_ws_buffer) == (1000, 1000)  # the unfixed handlers' limits
    assert (tun.message_store_retries, tun.message_store_retry_min) == (3, 0.1)  # gocql's policy


def test_string_overrides_flip_single_switches() -> None:
    switches = Switches.resolve("baseline", "circuit_breaker=on, REDIS_RETRY=on,")
    assert switches.on(Switch.CIRCUIT_BREAKER)
    assert switches.on(Switch.REDIS_RETRY)
    assert not switches.on(Switch.PROXY_TIMEOUTS)


def test_mapping_overrides_accept_bools_and_words() -> None:
    switches = Switches.resolve("hardened", {"health_deps": False, "ws_cap": "off", "pool_limits": "on"})
    assert not switches.on(Switch.HEALTH_DEPS)
    assert not switches.on(Switch.WS_CAP)
    assert switches.on(Switch.POOL_LIMITS)


def test_empty_overrides_change_nothing() -> None:
    assert (
        Switches.resolve("hardened", "")
        == Switches.resolve("hardened", None)
        == Switches.resolve("hardened", {})
    )


def test_unknown_switch_is_named_with_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown switch 'circuit_braker'.*circuit_breaker"):
        Switches.resolve("hardened", "circuit_braker=on")


def test_bad_value_names_the_switch() -> None:
    with pytest.raises(ValueError, match=r"switch 'ws_cap': invalid value 'maybe'; valid values: on, off"):
        Switches.resolve("hardened", {"ws_cap": "maybe"})


def test_override_without_value_is_refused() -> None:
    with pytest.raises(ValueError, match="name=on"):
        Switches.resolve("hardened", "ws_cap")


def test_unknown_profile_lists_the_profiles() -> None:
    with pytest.raises(ValueError, match="baseline, reported, verified, hardened"):
        Switches.resolve("paranoid")
    with pytest.raises(ValueError, match="valid profiles: baseline, reported, verified, hardened"):
        profile_switches("paranoid")


def test_switches_are_frozen() -> None:
    switches = Switches.resolve("baseline")
    with pytest.raises(AttributeError):
        switches.profile = Profile.HARDENED  # type: ignore[misc]


def test_settings_read_the_launch_contract() -> None:
    settings = Settings.from_env(
        {
            "SC_SERVICE": "auth",
            "SC_PORT": "18081",
            "SC_PROFILE": "baseline",
            "SC_SWITCHES": "health_deps=on",
            "SC_REDIS_URL": "redis://127.0.0.1:26379/0",
            "SC_SQL_DSN": "postgresql://postgres@127.0.0.1:26257/secureconnect",
            "SC_CHAT_URL": "",
            "SC_PROXY_TIMEOUT": "0.25",
            "SC_BREAKER_FAIL_MAX": "2",
        }
    )
    assert settings.service == "auth" and settings.port == 18081
    assert settings.switches.as_dict() == {s.value: s is Switch.HEALTH_DEPS for s in Switch}
    assert settings.sql_dsn and settings.sql_dsn.endswith("/secureconnect")
    assert settings.chat_url is None
    assert settings.tunables.proxy_timeout == 0.25
    assert settings.tunables.breaker_fail_max == 2
    assert settings.tunables.request_timeout == Tunables().request_timeout


def test_settings_default_to_hardened() -> None:
    assert Settings.from_env({}).switches.profile is Profile.HARDENED


@pytest.mark.parametrize(
    ("key", "value"), [("SC_POOL_SIZE", "ten"), ("SC_STORE_TIMEOUT", "1s"), ("SC_PORT", "x")]
)
def test_bad_numbers_name_their_variable(key: str, value: str) -> None:
    with pytest.raises(ValueError, match=key):
        Settings.from_env({key: value})
