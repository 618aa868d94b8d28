"""Settings: every variable checked at start-up, one line naming it, the token never shown."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.config import ConfigError, RedactingFormatter, load_settings, read_env_file

TOKEN = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"


def test_the_default_zone_is_the_policys() -> None:
    from bot.config import policy_timezone
    from tests.e2e.harness import engine

    assert policy_timezone() == "Asia/Shanghai"
    assert str(engine().tz) == policy_timezone()


def test_defaults_without_anything() -> None:
    s = load_settings({}, None)
    assert s.token is None and not s.has_token
    assert s.api_url == "https://api.telegram.org"
    assert s.data_dir == Path("data")
    assert s.timezone == ""  # the zone of config/policy.yaml, which the engine resolves
    assert s.concurrency >= 1


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "# comment\n"
        f"export TELEGRAM_BOT_TOKEN='{TOKEN}'\n"
        'TELEGRAM_API_URL="http://127.0.0.1:8081/"\n'
        "BOT_DATA_DIR=/srv/bot  # inline comment\n"
        "LOG_LEVEL=debug\n",
        encoding="utf-8",
    )
    s = load_settings({"BOT_DATA_DIR": "/var/lib/bot"}, env)
    assert s.token == TOKEN
    assert s.api_url == "http://127.0.0.1:8081"
    assert s.data_dir == Path("/var/lib/bot")
    assert s.log_level == "DEBUG"


def test_missing_env_file_is_fine(tmp_path: Path) -> None:
    assert load_settings({}, tmp_path / "nope.env").token is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TELEGRAM_API_URL", "ftp://example.org"),
        ("TELEGRAM_API_URL", "api.telegram.org"),
        ("TELEGRAM_API_URL", "https://api.telegram.org/bot"),
        ("TELEGRAM_BOT_TOKEN", "not-a-token"),
        ("LOG_LEVEL", "LOUD"),
        ("WEBHOOK_PORT", "70000"),
        ("WEBHOOK_PORT", "eighty"),
        ("WEBHOOK_URL", "example.org/hook"),
        ("WEBHOOK_SECRET", "has spaces"),
        ("OPERATOR_CHAT_ID", "@ops"),
        ("OPERATOR_IDS", "1,two"),
        ("CONCURRENCY", "0"),
        ("TIMEZONE", "Mars/Olympus"),
        ("SEND_RATE_LIMIT", "fast"),
        ("SEND_RATE_LIMIT", "-1"),
        ("SEND_RATE_LIMIT", "inf"),
        ("CHAT_RATE_LIMIT", "nan"),
        ("CHAT_RATE_LIMIT", "1/s"),
    ],
)
def test_malformed_setting_names_the_variable_in_one_line(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({name: value}, None)
    message = str(info.value)
    assert name in message
    assert "\n" not in message


def test_api_url_message_shows_the_value() -> None:
    with pytest.raises(ConfigError, match=r"TELEGRAM_API_URL must be an http\(s\) URL, got"):
        load_settings({"TELEGRAM_API_URL": "nope"}, None)


def test_token_never_in_messages_or_repr() -> None:
    bad = "123456:short"
    with pytest.raises(ConfigError) as info:
        load_settings({"TELEGRAM_BOT_TOKEN": bad}, None)
    assert bad not in str(info.value)
    s = load_settings({"TELEGRAM_BOT_TOKEN": TOKEN, "WEBHOOK_SECRET": "s3cret_value"}, None)
    assert TOKEN not in repr(s)
    assert "s3cret_value" not in repr(s)


def test_log_formatter_blanks_the_token() -> None:
    s = load_settings({"TELEGRAM_BOT_TOKEN": TOKEN}, None)
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "url https://h/bot%s/getMe", (TOKEN,), None
    )
    line = RedactingFormatter(s).format(record)
    assert TOKEN not in line
    assert "***" in line


def test_operator_ids_are_parsed() -> None:
    s = load_settings({"OPERATOR_IDS": "1, 2,3", "OPERATOR_CHAT_ID": "-100123"}, None)
    assert s.operator_ids == frozenset({1, 2, 3})
    assert s.operator_chat_id == -100123


def test_bad_env_line_names_file_and_line(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("GOOD=1\nthis is not a setting\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\.env:2"):
        read_env_file(env)


def test_webhook_path_defaults_to_the_path_of_the_public_url() -> None:
    s = load_settings({"WEBHOOK_URL": "https://bot.example.com/tg/hook"}, None)
    assert s.webhook_path == "tg/hook"
    s = load_settings({"WEBHOOK_URL": "https://bot.example.com/", "WEBHOOK_PATH": "/x/"}, None)
    assert s.webhook_path == "x"
    assert load_settings({"WEBHOOK_URL": "https://bot.example.com"}, None).webhook_path == (
        "telegram"
    )


def test_rate_limits_default_to_telegrams_allowance_and_zero_lifts_them() -> None:
    assert (load_settings({}, None).send_rate_limit, load_settings({}, None).chat_rate_limit) == (
        30.0,
        1.0,
    )
    lifted = load_settings({"SEND_RATE_LIMIT": "0", "CHAT_RATE_LIMIT": "0"}, None)
    assert (lifted.send_rate_limit, lifted.chat_rate_limit) == (0.0, 0.0)
    raised = load_settings({"SEND_RATE_LIMIT": "1000", "CHAT_RATE_LIMIT": "0.5"}, None)
    assert (raised.send_rate_limit, raised.chat_rate_limit) == (1000.0, 0.5)


def test_a_bad_rate_says_what_is_expected() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"SEND_RATE_LIMIT": "lots"}, None)
    assert str(info.value) == (
        "SEND_RATE_LIMIT must be messages per second, a number from 0 (no limit) to 100000, "
        "got 'lots'"
    )
