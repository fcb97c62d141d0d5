"""Typed settings: the base class of every params.yaml section, noise type and model.

A section is a frozen pydantic model declared next to the code it configures. `parse` turns
pydantic's errors into one line that names the params.yaml key, what it should be and how to
fix it, so that a typo in `dvc exp run -S ...` fails at once instead of an hour into training.
"""

import types
import typing
from typing import Any, Literal, Self

import annotated_types
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

from fer_denoise.errors import UserError

PARAMS_FILE = "params.yaml"


def params_error(key: str, problem: str) -> UserError:
    """The error for one bad key: what is wrong with it and where to fix it."""
    return UserError(
        f"{PARAMS_FILE}: `{key}` {problem}. Fix it in {PARAMS_FILE} "
        f"(or override it with `dvc exp run -S {key}=...`)."
    )


class Settings(BaseModel):
    """Strict (no "3" for 3, no true for 1), finite, frozen, and no unknown keys."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

    @classmethod
    def parse(cls, key: str, raw: Any) -> Self:
        """Validate `raw`, the params.yaml mapping at `key`, or raise the first problem."""
        if not isinstance(raw, dict):
            raise params_error(key, f"must be a mapping of keys, got {raw!r}")
        try:
            return cls.model_validate(raw)
        except ValidationError as error:
            raise cls._explain(key, raw, error.errors()) from None

    @classmethod
    def _explain(cls, key: str, raw: dict, errors: list[dict]) -> UserError:
        # An unknown key first: it is the likeliest typo, and it explains a "missing" one.
        error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        name = str(error["loc"][0]) if error["loc"] else ""
        field_key = f"{key}.{name}" if name else key
        if error["type"] == "extra_forbidden":
            known = ", ".join(cls.model_fields)
            return params_error(field_key, f"is not a known key (known: {known})")
        field = cls.model_fields.get(name)
        if field is None:  # a check of the whole section (model_validator)
            return params_error(key, error["msg"].removeprefix("Value error, "))
        expected = describe(field)
        if error["type"] == "missing":
            return params_error(field_key, f"is missing ({expected})")
        value = raw.get(name)
        if value is None:
            return params_error(field_key, f"must be set ({expected})")
        if error["type"] == "finite_number" and len(error["loc"]) == 1:
            return params_error(field_key, f"must be a finite number ({expected}), got {value!r}")
        if error["type"] == "literal_error" and len(error["loc"]) == 1:
            return params_error(field_key, f"must be {expected}; got {value!r}")
        return params_error(field_key, f"must be {expected}, got {value!r}")


KINDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def describe(field: FieldInfo) -> str:
    """What a field accepts, in words: its description, or its type, bounds and choices."""
    if field.description:
        return field.description
    annotation, nullable = field.annotation, False
    if isinstance(annotation, types.UnionType) and type(None) in typing.get_args(annotation):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        nullable = True
    if typing.get_origin(annotation) is Literal:
        text = "one of " + ", ".join(str(choice) for choice in typing.get_args(annotation))
    else:
        text = KINDS.get(annotation, getattr(annotation, "__name__", str(annotation)))
        bounds = []
        for rule in field.metadata:
            if isinstance(rule, annotated_types.Gt):
                bounds.append(f"> {rule.gt}")
            elif isinstance(rule, annotated_types.Ge):
                bounds.append(f">= {rule.ge}")
            elif isinstance(rule, annotated_types.Le):
                bounds.append(f"<= {rule.le}")
        if bounds:
            text += " " + " and ".join(bounds)
    return text + (" or null" if nullable else "")
