"""JSON form of Mobility Header messages, for `pmip6d decode` and `pmip6d encode`.

Field conversion is driven by each dataclass's field types, so a new option
class gets a JSON form without touching this module. Keys that are derived
from other fields (type code, status name, timestamp seconds, an MN
identifier's NAI text) are written on output and, when given on input, must
agree with the fields; `seconds` and `nai` may also stand alone.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Callable
from ipaddress import IPv6Address, IPv6Network
from typing import Any

from pmip6d.wire import (
    MESSAGE_CLASSES,
    OPTION_CLASSES,
    MobileNodeIdentifier,
    MobilityMessage,
    Option,
    Status,
    Timestamp,
)


class JsonFormError(ValueError):
    """JSON that does not describe a message."""


def _expect(kind: type, convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        # bool is an int subclass; true/false must not pass for a number.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise JsonFormError(f"expected {kind.__name__}, got {value!r}")
        return convert(value)

    return parse


def _parse_hex(value: Any) -> bytes:
    try:
        return bytes.fromhex(_expect(str, str)(value).replace(":", ""))
    except ValueError as error:
        raise JsonFormError(f"expected hex octets, got {value!r}") from error


# Python field type -> (to JSON, from JSON)
_FIELD_FORMS: dict[type, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    bool: (bool, _expect(bool, bool)),
    int: (int, _expect(int, int)),
    str: (str, _expect(str, str)),
    bytes: (bytes.hex, _parse_hex),
    IPv6Address: (str, _expect(str, IPv6Address)),
    IPv6Network: (str, _expect(str, IPv6Network)),
}

_STATUS_NAMES = {status.value: status.name for status in Status}
_OPTION_NAMES = {cls.__name__: cls for cls in OPTION_CLASSES.values()}
_MESSAGE_NAMES = {cls.__name__: cls for cls in MESSAGE_CLASSES.values()}


@functools.cache
def _scalar_fields(cls: type) -> dict[str, type]:
    hints = typing.get_type_hints(cls)
    skipped = {"options", "checksum", *getattr(cls, "FLAGS", {})}
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.name not in skipped}


def option_to_json(option: Option) -> dict[str, Any]:
    form: dict[str, Any] = {"type": type(option).__name__, "code": option.TYPE}
    for name, kind in _scalar_fields(type(option)).items():
        form[name] = _FIELD_FORMS[kind][0](getattr(option, name))
    if isinstance(option, Timestamp):
        form["seconds"] = option.seconds
    if isinstance(option, MobileNodeIdentifier) and option.nai is not None:
        form["nai"] = option.nai
    return form


def message_to_json(msg: MobilityMessage) -> dict[str, Any]:
    form: dict[str, Any] = {"message": type(msg).__name__, "mh_type": msg.MH_TYPE}
    for name, kind in _scalar_fields(type(msg)).items():
        form[name] = _FIELD_FORMS[kind][0](getattr(msg, name))
    if "status" in form:
        form["status_name"] = _STATUS_NAMES.get(form["status"])
    form["flags"] = {name: getattr(msg, name) for name in msg.FLAGS}
    form["checksum"] = msg.checksum
    form["options"] = [option_to_json(option) for option in msg.options]
    return form


def _build(cls: type, form: dict[str, Any], fixed: set[str], extra: dict[str, Any]) -> Any:
    scalars = _scalar_fields(cls)
    unknown = set(form) - set(scalars) - fixed
    if unknown:
        raise JsonFormError(f"{cls.__name__}: unknown keys {sorted(unknown)}")
    kwargs = dict(extra)
    for name, kind in scalars.items():
        if name in form:
            try:
                kwargs[name] = _FIELD_FORMS[kind][1](form[name])
            except (JsonFormError, ValueError) as error:
                raise JsonFormError(f"{cls.__name__}.{name}: {error}") from None
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:
        raise JsonFormError(f"{cls.__name__}: {error}") from None


def _check_derived(built_form: dict[str, Any], form: dict[str, Any], keys: set[str]) -> None:
    for key in keys & set(form):
        if form[key] != built_form[key]:
            raise JsonFormError(
                f"{built_form.get('type') or built_form['message']}: {key} {form[key]!r} "
                f"disagrees with the other fields ({built_form[key]!r})"
            )


def _timestamp_value(seconds: Any) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise JsonFormError(f"Timestamp.seconds: expected a number, got {seconds!r}")
    try:
        return Timestamp.from_seconds(seconds).value
    except (ValueError, OverflowError) as error:
        raise JsonFormError(f"Timestamp.seconds: {error}") from None


def option_from_json(form: Any) -> Option:
    if not isinstance(form, dict) or form.get("type") not in _OPTION_NAMES:
        raise JsonFormError(f"option needs a type out of {sorted(_OPTION_NAMES)}: {form!r}")
    cls = _OPTION_NAMES[form["type"]]
    given = dict(form)
    if cls is Timestamp and "value" not in given and "seconds" in given:
        given["value"] = _timestamp_value(given.pop("seconds"))
    if cls is MobileNodeIdentifier and "identifier" not in given and "nai" in given:
        given["identifier"] = _expect(str, str)(given["nai"]).encode().hex()
    derived = {"type", "code", "seconds", "nai"}
    option = _build(cls, given, derived, {})
    _check_derived(option_to_json(option), given, derived)
    return option


def message_from_json(form: Any) -> MobilityMessage:
    if not isinstance(form, dict) or form.get("message") not in _MESSAGE_NAMES:
        raise JsonFormError(f"message needs a 'message' out of {sorted(_MESSAGE_NAMES)}")
    cls = _MESSAGE_NAMES[form["message"]]
    flags = form.get("flags", {})
    if not isinstance(flags, dict) or set(flags) - set(cls.FLAGS):
        raise JsonFormError(f"{cls.__name__}: flags must be an object with keys {list(cls.FLAGS)}")
    options = form.get("options", [])
    if not isinstance(options, list):
        raise JsonFormError(f"{cls.__name__}: options must be a list")
    extra = {
        "options": [option_from_json(option) for option in options],
        "checksum": _expect(int, int)(form.get("checksum", 0)),
        **{name: _expect(bool, bool)(value) for name, value in flags.items()},
    }
    derived = {"message", "mh_type", "status_name"}
    msg = _build(cls, form, derived | {"flags", "checksum", "options"}, extra)
    _check_derived(message_to_json(msg), form, derived)
    return msg
