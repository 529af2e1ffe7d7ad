"""Which method of a service carries out which action: exactly one per action
type of the role's union, checked when the service class is defined.

A method says what it carries out with `@carries_out(ActionType)`; a service
class names the action types it must take (`actions = (*get_args(LmaAction),
...)`). `action_table` then builds the class's table and refuses, at import,
a type without a method, a type with two, and a method for a type the class
does not take. So a new action in `core/actions.py` stops the daemon from
importing until a service carries it out, instead of failing as a KeyError in
the middle of a handover.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

Handler = Callable[[Any, Any], Any]  # (service, action) -> None or an awaitable

_MARK = "_pmip6d_carries_out"


def carries_out(action_type: type) -> Callable[[Handler], Handler]:
    """Mark a service method as the one that carries out `action_type`."""

    def mark(method: Handler) -> Handler:
        setattr(method, _MARK, action_type)
        return method

    return mark


def action_table(cls: type, actions: Iterable[type]) -> Mapping[type, Handler]:
    """{action type: method} of `cls` (its own methods and inherited ones),
    verified against `actions`; TypeError names what is missing or doubled."""
    wanted = list(actions)
    handlers: dict[type, list[str]] = {}
    table: dict[type, Handler] = {}
    for name in dir(cls):
        method = getattr(cls, name)
        action_type = getattr(method, _MARK, None)
        if action_type is None:
            continue
        handlers.setdefault(action_type, []).append(name)
        table[action_type] = method
    problems = [f"no method carries out {t.__name__}" for t in wanted if t not in handlers]
    problems += [
        f"{t.__name__} is carried out by {len(names)} methods ({', '.join(names)})"
        for t, names in handlers.items()
        if len(names) > 1
    ]
    problems += [
        f"{', '.join(names)} carries out {t.__name__}, which {cls.__name__} does not take"
        for t, names in handlers.items()
        if t not in wanted
    ]
    if problems:
        raise TypeError(f"{cls.__name__}: " + "; ".join(problems))
    return MappingProxyType(table)
