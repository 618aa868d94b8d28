"""Bot API 10.0 spec loader and strict parameter validator for the fake Bot API server.

The JSON spec (``/work/shared/telegram/bot-api-10.0.json``) is parsed once per process
(:func:`load_spec` is cached). :func:`validate_call` checks one method call the way Telegram
would: unknown / missing parameters, types (form values arrive as strings, JSON values are
typed), nested objects against ``types`` (recursively, including union and sub-types), and the
length limits written in the prose (``"1-4096 characters after entities parsing"``,
``"1-64 bytes"``). Entity parsing (HTML, MarkdownV2) is :func:`parse_text` below.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPEC_PATH = Path("/work/shared/telegram/bot-api-10.0.json")

_LIMIT_RE = re.compile(r"(\d+)-(\d+) (characters|bytes)")
_DISCRIMINATOR_RE = re.compile(r"(?:always|must be) \"?\*?([a-z_]+)")
_PRIMITIVES = {"Integer", "String", "Boolean", "Float", "InputFile"}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    types: tuple[str, ...]
    required: bool
    description: str
    limit: tuple[int, int, str] | None  # (min, max, "characters" | "bytes")
    after_entities: bool
    discriminator: str | None  # for sub-type "type"/"status" fields: the only allowed value


@dataclass(frozen=True)
class TypeSpec:
    name: str
    fields: dict[str, FieldSpec]
    subtypes: tuple[str, ...]


@dataclass(frozen=True)
class MethodSpec:
    name: str
    fields: dict[str, FieldSpec]
    returns: tuple[str, ...]


@dataclass(frozen=True)
class Spec:
    version: str
    methods: dict[str, MethodSpec]  # key: lower-cased method name
    types: dict[str, TypeSpec]

    def method(self, name: str) -> MethodSpec | None:
        return self.methods.get(name.lower())


def _field(raw: dict[str, Any]) -> FieldSpec:
    desc = str(raw.get("description", ""))
    m = _LIMIT_RE.search(desc)
    limit = (int(m.group(1)), int(m.group(2)), m.group(3)) if m else None
    disc = None
    if raw["name"] in ("type", "status", "source"):
        d = _DISCRIMINATOR_RE.search(desc)
        disc = d.group(1) if d else None
    return FieldSpec(
        name=raw["name"],
        types=tuple(raw["types"]),
        required=bool(raw.get("required")),
        description=desc,
        limit=limit,
        after_entities="after entities parsing" in desc,
        discriminator=disc,
    )


@functools.cache
def load_spec(path: Path = SPEC_PATH) -> Spec:
    data = json.loads(path.read_text(encoding="utf-8"))
    methods = {
        name.lower(): MethodSpec(
            name=name,
            fields={f["name"]: _field(f) for f in m.get("fields", [])},
            returns=tuple(m.get("returns", [])),
        )
        for name, m in data["methods"].items()
    }
    types = {
        name: TypeSpec(
            name=name,
            fields={f["name"]: _field(f) for f in t.get("fields", [])},
            subtypes=tuple(t.get("subtypes", [])),
        )
        for name, t in data["types"].items()
    }
    return Spec(version=data["version"], methods=methods, types=types)


class ValidationError(Exception):
    """One violation. ``description`` is what Telegram would answer (without "Bad Request: ")."""

    def __init__(self, description: str, detail: str | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.detail = detail or description


@dataclass
class CallCheck:
    """Result of :func:`validate_call`: converted parameters and the violations found."""

    params: dict[str, Any] = field(default_factory=dict)
    errors: list[ValidationError] = field(default_factory=list)


_FORM_TRUE = {"true", "1"}
_FORM_FALSE = {"false", "0"}
_INT_RE = re.compile(r"^-?\d+$")


def _is_file(value: Any) -> bool:
    # aiohttp's FileField (multipart upload) has .file and .filename
    return hasattr(value, "file") and hasattr(value, "filename")


class _Validator:
    def __init__(self, spec: Spec, *, check_limits: bool = True) -> None:
        self.spec = spec
        self.check_limits = check_limits

    # ---- top level ------------------------------------------------------------------
    def call(self, method: MethodSpec, raw: dict[str, Any], *, form: bool) -> CallCheck:
        out = CallCheck()
        for key in raw:
            if key not in method.fields:
                out.errors.append(
                    ValidationError(
                        f'unknown parameter "{key}"', f'{method.name}: unknown parameter "{key}"'
                    )
                )
        for name, fs in method.fields.items():
            if name not in raw:
                if fs.required:
                    out.errors.append(
                        ValidationError(
                            f'parameter "{name}" is required',
                            f'{method.name}: missing required parameter "{name}"',
                        )
                    )
                continue
            try:
                out.params[name] = self.top_value(method.name, fs, raw[name], form=form)
            except ValidationError as err:
                out.errors.append(ValidationError(err.description, f"{method.name}: {err.detail}"))
        if not out.errors:
            for lim in self.limits(method.fields, out.params, path=""):
                out.errors.append(ValidationError(lim.description, f"{method.name}: {lim.detail}"))
        return out

    def top_value(self, method: str, fs: FieldSpec, value: Any, *, form: bool) -> Any:
        errors: list[ValidationError] = []
        if isinstance(value, str) and not any(t in _PRIMITIVES for t in fs.types):
            # objects / arrays arrive JSON-serialized: decode once for all alternatives
            try:
                value = json.loads(value)
            except ValueError:
                raise ValidationError(
                    f"can't parse {fs.name} JSON object", f'field "{fs.name}": not valid JSON'
                ) from None
            form = False
        for t in self._candidates(fs.types, value):
            try:
                return self.top_one(t, fs.name, value, form=form)
            except ValidationError as err:
                errors.append(err)
        if len(errors) == 1:
            raise errors[0]
        raise self._best(errors, fs.name, fs.types)

    def top_one(self, t: str, path: str, value: Any, *, form: bool) -> Any:
        if t == "InputFile":
            if _is_file(value):
                return value
            raise ValidationError(f'field "{path}" must be an uploaded file (InputFile)')
        if _is_file(value):
            raise ValidationError(f'field "{path}" must be of type {t}, got an uploaded file')
        if form or isinstance(value, str):
            if not isinstance(value, str):
                raise ValidationError(f'field "{path}" must be of type {t}')
            if t == "String":
                return value
            if t == "Integer":
                if _INT_RE.match(value.strip()):
                    return int(value)
                raise ValidationError(f'field "{path}" must be of type Integer')
            if t == "Float":
                try:
                    return float(value)
                except ValueError:
                    raise ValidationError(f'field "{path}" must be of type Float') from None
            if t == "Boolean":
                low = value.strip().lower()
                if low in _FORM_TRUE:
                    return True
                if low in _FORM_FALSE:
                    return False
                raise ValidationError(f'field "{path}" must be of type Boolean')
            # Objects / arrays arrive JSON-serialized
            try:
                decoded = json.loads(value)
            except ValueError:
                raise ValidationError(
                    f"can't parse {path} JSON object", f'field "{path}": not valid JSON'
                ) from None
            return self.value(t, path, decoded)
        return self.value(t, path, value)

    # ---- nested JSON values --------------------------------------------------------
    def value(self, t: str, path: str, value: Any) -> Any:
        if t.startswith("Array of "):
            inner = t[len("Array of ") :]
            if not isinstance(value, list):
                raise ValidationError(f'field "{path}" must be an Array')
            return [self.value(inner, f"{path}[{i}]", v) for i, v in enumerate(value)]
        if t == "String":
            if isinstance(value, str):
                return value
            raise ValidationError(f'field "{path}" must be of type String')
        if t == "Integer":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str) and _INT_RE.match(value):
                return int(value)
            raise ValidationError(f'field "{path}" must be of type Integer')
        if t == "Float":
            if isinstance(value, int | float) and not isinstance(value, bool):
                return value
            raise ValidationError(f'field "{path}" must be of type Float')
        if t == "Boolean":
            if isinstance(value, bool):
                return value
            raise ValidationError(f'field "{path}" must be of type Boolean')
        if t == "InputFile":
            raise ValidationError(f'field "{path}": InputFile cannot be nested in JSON')
        ts = self.spec.types.get(t)
        if ts is None:
            raise ValidationError(f'field "{path}": unknown type {t}')
        if ts.subtypes:
            errors: list[ValidationError] = []
            for sub in self._candidates(ts.subtypes, value):
                try:
                    return self.value(sub, path, value)
                except ValidationError as err:
                    errors.append(err)
            raise self._best(errors, path, ts.subtypes)
        if not isinstance(value, dict):
            raise ValidationError(f'field "{path}" must be an object of type {t}')
        out: dict[str, Any] = {}
        for key in value:
            if key not in ts.fields:
                raise ValidationError(f'field "{path}": unknown field "{key}" for type {t}')
        for name, fs in ts.fields.items():
            if name not in value:
                if fs.required:
                    raise ValidationError(
                        f'field "{path}.{name}" is required', f'{t}: missing "{path}.{name}"'
                    )
                continue
            sub_errors: list[ValidationError] = []
            for ft in self._candidates(fs.types, value[name]):
                try:
                    out[name] = self.value(ft, f"{path}.{name}", value[name])
                    break
                except ValidationError as err:
                    sub_errors.append(err)
            else:
                raise self._best(sub_errors, f"{path}.{name}", fs.types)
            if fs.discriminator is not None and out[name] != fs.discriminator:
                raise ValidationError(
                    f'field "{path}.{name}" must be "{fs.discriminator}" for {t}',
                )
        hook = _TYPE_HOOKS.get(t)
        if hook is not None:
            hook(path, out)
        if self.check_limits:
            for lim in self.limits(ts.fields, out, path=path):
                raise lim
        return out

    def _candidates(self, types: tuple[str, ...], value: Any) -> tuple[str, ...]:
        """For a JSON object and several object types: the one type whose fields fit the
        object's keys, if exactly one does (so its real error is reported)."""
        if len(types) < 2 or not isinstance(value, dict):
            return types
        fits = []
        for t in types:
            ts = self.spec.types.get(t)
            if ts is None or ts.subtypes:
                return types
            required = {n for n, f in ts.fields.items() if f.required}
            if required <= set(value) and set(value) <= set(ts.fields):
                disc = [f for f in ts.fields.values() if f.discriminator is not None]
                if all(value.get(f.name) == f.discriminator for f in disc):
                    fits.append(t)
        return (fits[0],) if len(fits) == 1 else types

    @staticmethod
    def _best(errors: list[ValidationError], path: str, types: tuple[str, ...]) -> ValidationError:
        # Prefer the error from the alternative that got furthest (deepest path / not a
        # top-level type mismatch), so a broken InlineKeyboardMarkup reports its real problem.
        def depth(e: ValidationError) -> int:
            return e.detail.count(".") + e.detail.count("[") + (0 if "must be" in e.detail else 1)

        best = max(errors, key=depth)
        if depth(best) <= path.count(".") + path.count("[") + 1 and len(types) > 1:
            return ValidationError(
                f'field "{path}" must be one of: {", ".join(types)}',
                f'field "{path}" matches none of {", ".join(types)}: '
                + "; ".join(e.detail for e in errors),
            )
        return best

    # ---- prose limits --------------------------------------------------------------
    def limits(
        self, fields: dict[str, FieldSpec], values: dict[str, Any], *, path: str
    ) -> list[ValidationError]:
        errs: list[ValidationError] = []
        for name, fs in fields.items():
            v = values.get(name)
            if fs.limit is None or not isinstance(v, str):
                continue
            lo, hi, unit = fs.limit
            where = f"{path}.{name}" if path else name
            text = v
            if fs.after_entities:
                mode_key = f"{name}_parse_mode" if f"{name}_parse_mode" in fields else "parse_mode"
                mode = values.get(mode_key)
                if isinstance(mode, str) and mode:
                    try:
                        text, _ = parse_text(v, mode)
                    except EntityParseError as err:
                        errs.append(
                            ValidationError(
                                f"can't parse entities: {err}",
                                f'field "{where}" ({mode}): {err}',
                            )
                        )
                        continue
                text = text.strip()
            size = len(text.encode("utf-8")) if unit == "bytes" else len(text)
            if lo <= size <= hi:
                continue
            errs.append(_limit_error(name, where, size, lo, hi, unit, fs.after_entities))
        return errs


def _limit_error(
    name: str, where: str, size: int, lo: int, hi: int, unit: str, entities: bool
) -> ValidationError:
    detail = f'field "{where}" has {size} {unit}, allowed {lo}-{hi}'
    if name in ("text", "message_text") and entities:
        msg = "message text is empty" if size < lo else "message is too long"
    elif name == "caption":
        msg = "message caption is too long"
    elif name == "callback_data":
        msg = "BUTTON_DATA_INVALID"
    else:
        msg = f"{where} must be {lo}-{hi} {unit} long"
    return ValidationError(msg, detail)


def _hook_inline_button(path: str, button: dict[str, Any]) -> None:
    kinds = [k for k in button if k not in ("text", "icon_custom_emoji_id", "style")]
    if len(kinds) != 1:
        raise ValidationError(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
            if not kinds
            else "can't parse inline keyboard button: exactly one button kind must be used",
            f"{path}: InlineKeyboardButton needs exactly one of url/callback_data/...; got {kinds}",
        )
    if not button["text"].strip():
        raise ValidationError("BUTTON_TEXT_INVALID", f"{path}.text must not be empty")
    url = button.get("url")
    if url is not None and not re.match(r"^(https?|tg)://\S+$", url):
        raise ValidationError(
            f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL",
            f"{path}.url is not an http(s):// or tg:// URL",
        )
    style = button.get("style")
    if style is not None and style not in ("danger", "success", "primary"):
        raise ValidationError(f'{path}.style must be "danger", "success" or "primary"')


def _hook_inline_markup(path: str, markup: dict[str, Any]) -> None:
    count = sum(len(row) for row in markup["inline_keyboard"])
    if count > 100:
        raise ValidationError("reply markup is too long", f"{path}: {count} buttons (max 100)")


_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")


def _hook_bot_command(path: str, cmd: dict[str, Any]) -> None:
    if not _COMMAND_RE.match(cmd["command"]):
        raise ValidationError(
            "BOT_COMMAND_INVALID",
            f"{path}.command must be 1-32 chars of a-z, 0-9, _; got {cmd['command']!r}",
        )
    if not 1 <= len(cmd["description"].strip()) <= 256:
        raise ValidationError(
            "BOT_COMMAND_DESCRIPTION_INVALID", f"{path}.description must be 1-256 characters"
        )


_TYPE_HOOKS = {
    "InlineKeyboardButton": _hook_inline_button,
    "InlineKeyboardMarkup": _hook_inline_markup,
    "BotCommand": _hook_bot_command,
}


def validate_call(method: MethodSpec, raw: dict[str, Any], *, form: bool) -> CallCheck:
    """Validate and convert the raw parameters of one call (``form``: values are strings)."""
    return _Validator(load_spec()).call(method, raw, form=form)


def check_object(type_name: str, obj: Any) -> list[str]:
    """Check an object the fake *returns* against the spec (no limits). Returns problems."""
    try:
        _Validator(load_spec(), check_limits=False).value(type_name, type_name, obj)
    except ValidationError as err:
        return [err.detail]
    return []


# ==== entity parsing (parse_mode) ====================================================


class EntityParseError(Exception):
    """The text cannot be parsed; Telegram answers "Bad Request: can't parse entities: ..."."""


_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
    "tg-time": "date_time",
}
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_ENTITY_RE = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{0,31});")
_TAG_NAME_RE = re.compile(r"[a-zA-Z0-9-]*")
_ATTR_NAME_RE = re.compile(r"[a-zA-Z0-9_-]*")


def _u16(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


class _Out:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.u16 = 0
        self.entities: list[dict[str, Any]] = []

    def emit(self, s: str) -> None:
        self.parts.append(s)
        self.u16 += _u16(s)

    def entity(self, etype: str, start: int, **extra: Any) -> None:
        if self.u16 > start:
            self.entities.append(
                {"type": etype, "offset": start, "length": self.u16 - start, **extra}
            )

    def result(self) -> tuple[str, list[dict[str, Any]]]:
        text = "".join(self.parts)
        # Telegram trims leading/trailing whitespace and shifts the entities accordingly.
        stripped = text.strip()
        lead = _u16(text[: len(text) - len(text.lstrip())])
        total = _u16(stripped)
        ents = []
        for e in self.entities:
            start = max(e["offset"] - lead, 0)
            end = min(e["offset"] + e["length"] - lead, total)
            if end > start:
                ents.append({**e, "offset": start, "length": end - start})
        ents.sort(key=lambda e: (e["offset"], -e["length"]))
        return stripped, ents


def _html_unescape(text: str, pos: int, full: str) -> str:
    def repl(m: re.Match[str]) -> str:
        ref = m.group(1)
        if ref[0] == "#":
            cp = int(ref[2:], 16) if ref[1] in "xX" else int(ref[1:])
            if not 0 < cp <= 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
                raise EntityParseError(f"Invalid HTML entity &{ref};")
            return chr(cp)
        if ref in _HTML_NAMED:
            return _HTML_NAMED[ref]
        raise EntityParseError(
            f'Unsupported HTML entity "&{ref};" at byte offset '
            f"{len(full[: pos + m.start()].encode())}"
        )

    return _HTML_ENTITY_RE.sub(repl, text)


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram-HTML. Returns (visible text, entities with UTF-16 offsets)."""
    out = _Out()
    stack: list[tuple[str, int, dict[str, str]]] = []
    i, n = 0, len(text)

    def boff(k: int) -> int:
        return len(text[:k].encode("utf-8"))

    while i < n:
        c = text[i]
        if c == "&":
            m = _HTML_ENTITY_RE.match(text, i)
            if m:
                out.emit(_html_unescape(m.group(0), i, text))
                i = m.end()
            else:  # a bare "&" is kept literally by Telegram
                out.emit("&")
                i += 1
            continue
        if c != "<":
            j = i
            while j < n and text[j] not in "&<":
                j += 1
            out.emit(text[i:j])
            i = j
            continue
        begin = i
        if i + 1 < n and text[i + 1] == "/":
            m = _TAG_NAME_RE.match(text, i + 2)
            assert m is not None
            name = m.group(0).lower()
            j = m.end()
            while j < n and text[j].isspace():
                j += 1
            if j >= n or text[j] != ">":
                raise EntityParseError(f"Unclosed end tag at byte offset {boff(begin)}")
            if not stack:
                raise EntityParseError(f'Unexpected end tag "{name}" at byte offset {boff(begin)}')
            top, start, top_attrs = stack.pop()
            if name != top:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {boff(begin)}, expected "</{top}>", '
                    f'found "</{name}>"'
                )
            _html_close(out, top, start, top_attrs, stack)
            i = j + 1
            continue
        m = _TAG_NAME_RE.match(text, i + 1)
        assert m is not None
        name = m.group(0).lower()
        if name not in _HTML_TAGS:
            raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {boff(begin)}')
        j = m.end()
        attrs: dict[str, str] = {}
        while True:
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                raise EntityParseError(f'Unclosed start tag "{name}" at byte offset {boff(begin)}')
            if text[j] == ">":
                j += 1
                break
            am = _ATTR_NAME_RE.match(text, j)
            assert am is not None
            aname = am.group(0).lower()
            if not aname:
                raise EntityParseError(
                    f'Empty attribute name in the tag "{name}" at byte offset {boff(begin)}'
                )
            j = am.end()
            value = ""
            if j < n and text[j] == "=":
                j += 1
                if j < n and text[j] in "\"'":
                    q = text[j]
                    end = text.find(q, j + 1)
                    if end < 0:
                        raise EntityParseError(
                            f'Unclosed start tag "{name}" at byte offset {boff(begin)}'
                        )
                    value = _html_unescape(text[j + 1 : end], j + 1, text)
                    j = end + 1
                else:
                    k = j
                    while k < n and not text[k].isspace() and text[k] != ">":
                        k += 1
                    value = _html_unescape(text[j:k], j, text)
                    j = k
            attrs[aname] = value
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError('Tag "span" must have class "tg-spoiler"')
        if name == "tg-emoji" and not attrs.get("emoji-id"):
            raise EntityParseError('Tag "tg-emoji" must have attribute "emoji-id"')
        stack.append((name, out.u16, attrs))
        i = j
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.result()


def _html_close(
    out: _Out, tag: str, start: int, attrs: dict[str, str], stack: list[tuple[str, int, Any]]
) -> None:
    etype = _HTML_TAGS[tag]
    if tag == "a":
        href = attrs.get("href", "")
        if href:
            out.entity("text_link", start, url=href)
    elif tag == "code" and stack and stack[-1][0] == "pre":
        lang = attrs.get("class", "")
        if lang.startswith("language-"):
            stack[-1][2]["_language"] = lang[len("language-") :]
        else:
            out.entity("code", start)
    elif tag == "pre":
        pre_lang = attrs.get("_language")
        if pre_lang:
            out.entity("pre", start, language=pre_lang)
        else:
            out.entity("pre", start)
    elif tag == "blockquote":
        out.entity("expandable_blockquote" if "expandable" in attrs else "blockquote", start)
    elif tag == "tg-emoji":
        out.entity("custom_emoji", start, custom_emoji_id=attrs["emoji-id"])
    elif tag == "tg-time":
        if attrs.get("unix", "").isdigit():
            extra: dict[str, Any] = {"unix_time": int(attrs["unix"])}
            if attrs.get("format"):
                extra["date_time_format"] = attrs["format"]
            out.entity("date_time", start, **extra)
    else:
        out.entity(etype, start)


_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MD_NAMES = {
    "*": "bold",
    "_": "italic",
    "__": "underline",
    "~": "strikethrough",
    "||": "spoiler",
    "`": "code",
    "```": "pre",
}


def parse_markdown(text: str, *, v2: bool) -> tuple[str, list[dict[str, Any]]]:
    """Parse MarkdownV2 (strict escaping) or legacy Markdown."""
    out = _Out()
    stack: list[tuple[str, int, int]] = []  # (marker, u16 start, byte offset)
    i, n = 0, len(text)

    def boff(k: int) -> int:
        return len(text[:k].encode("utf-8"))

    def in_code() -> bool:
        return bool(stack) and stack[-1][0] in ("`", "```")

    def toggle(marker: str, at: int) -> None:
        if stack and stack[-1][0] == marker:
            _, start, _ = stack.pop()
            out.entity(_MD_NAMES[marker], start)
        elif any(s[0] == marker for s in stack) or (not v2 and stack):
            raise EntityParseError(
                f"Can't find end of {_MD_NAMES[stack[-1][0]].title()} entity at byte offset "
                f"{stack[-1][2]}"
            )
        else:
            stack.append((marker, out.u16, boff(at)))

    while i < n:
        c = text[i]
        if c == "\\" and (v2 or (i + 1 < n and text[i + 1] in "_*`[")):
            if i + 1 < n and 0 < ord(text[i + 1]) <= 126:
                out.emit(text[i + 1])
                i += 2
                continue
            raise EntityParseError(
                "Character '\\' is reserved and must be escaped with the preceding '\\'"
            )
        if in_code():
            if text.startswith("```", i) and stack[-1][0] == "```":
                toggle("```", i)
                i += 3
            elif c == "`" and stack[-1][0] == "`":
                toggle("`", i)
                i += 1
            else:
                out.emit(c)
                i += 1
            continue
        if text.startswith("```", i):
            toggle("```", i)
            i += 3
            nl = text.find("\n", i)
            if nl >= 0 and " " not in text[i:nl] and text[i:nl]:
                i = nl + 1  # language line
            continue
        if c in "*`~" or (c == "_" and not (v2 and text.startswith("__", i))):
            if not v2 and c == "~":
                out.emit(c)
                i += 1
                continue
            toggle(c, i)
            i += 1
            continue
        if v2 and (text.startswith("__", i) or text.startswith("||", i)):
            toggle(text[i : i + 2], i)
            i += 2
            continue
        if c == "[" or (v2 and c == "!" and text.startswith("![", i)):
            emoji = c == "!"
            close = text.find("](", i)
            end = text.find(")", close) if close >= 0 else -1
            if close < 0 or end < 0:
                raise EntityParseError(f"Can't find end of a URL at byte offset {boff(i)}")
            start = out.u16
            inner, _ = parse_markdown(text[i + (2 if emoji else 1) : close], v2=v2)
            out.emit(inner)
            url = text[close + 2 : end].replace("\\)", ")").replace("\\\\", "\\")
            if emoji:
                out.entity("custom_emoji", start, custom_emoji_id=url.rsplit("=", 1)[-1])
            else:
                out.entity("text_link", start, url=url)
            i = end + 1
            continue
        if v2 and c == ">" and (i == 0 or text[i - 1] == "\n"):
            nl = text.find("\n", i)
            line_end = n if nl < 0 else nl
            start = out.u16
            inner, _ = parse_markdown(text[i + 1 : line_end], v2=v2)
            out.emit(inner)
            out.entity("blockquote", start)
            i = line_end
            continue
        if v2 and c in _MDV2_RESERVED:
            raise EntityParseError(
                f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
            )
        out.emit(c)
        i += 1
    if stack:
        marker, _, at = stack[-1]
        raise EntityParseError(
            f"Can't find end of {_MD_NAMES[marker].title()} entity at byte offset {at}"
        )
    return out.result()


def parse_text(text: str, parse_mode: str) -> tuple[str, list[dict[str, Any]]]:
    """Apply ``parse_mode`` (case-insensitive) the way Telegram does; raise on bad markup."""
    mode = parse_mode.lower()
    if mode == "html":
        return parse_html(text)
    if mode == "markdownv2":
        return parse_markdown(text, v2=True)
    if mode == "markdown":
        return parse_markdown(text, v2=False)
    raise EntityParseError(f"Unsupported parse_mode {parse_mode!r}")
