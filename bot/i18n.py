"""Which language a new conversation starts in, from Telegram's ``language_code``.

Telegram sends an IETF tag such as ``zh-hans``, ``zh-TW`` or ``en-GB`` (or nothing). The shopper
can change the choice at any time with ``/lang`` (flows/lang.yaml); it is stored with the
conversation, so this hint only matters for a conversation's first message.
"""

from __future__ import annotations

from collections.abc import Collection

#: The locale names these tags map to (locales/<name>.yaml).
_SIMPLIFIED, _TRADITIONAL, _ENGLISH = "zh-Hans", "zh-Hant", "en"
_HANT = frozenset({"zh-hant", "zh-hk", "zh-tw", "zh-mo"})
_HANS = frozenset({"zh-hans", "zh-cn", "zh-sg"})


def pick_locale(language_code: str | None, available: Collection[str], default: str) -> str:
    """Maps a Telegram ``language_code`` to a locale name.

    zh-hans/zh-cn/zh-sg → zh-Hans; zh-hant/zh-hk/zh-tw/zh-mo (also ``zh-Hant-TW``) → zh-Hant;
    en* → en; anything else → ``default`` (config/policy.yaml ``default_locale``). A locale
    ``available`` lacks falls back to ``default`` too.
    """
    code = (language_code or "").strip().lower().replace("_", "-")
    parts = code.split("-")
    choice = default
    if parts[0] == "en":
        choice = _ENGLISH
    elif parts[0] == "zh":
        tag = "-".join(parts[:2])
        if tag in _HANT or "hant" in parts[1:]:
            choice = _TRADITIONAL
        elif tag in _HANS or "hans" in parts[1:]:
            choice = _SIMPLIFIED
    if choice not in available:
        return default
    return choice
