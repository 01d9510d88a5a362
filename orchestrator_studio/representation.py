"""DRF's `to_representation`, with the per-row work of each field decided once per serializer.

DRF looks every readable field of every row up through `get_attribute` (a walk over `source_attrs` with a
callable check per step) and `to_representation` (for a datetime, the current time zone read from a
context-local on every value). For a list of rows, that machinery costs more than the query. A serializer
with `ReadersMixin` builds, once, one reader per field: a model attribute read as it is when its value is
already what the field would give (a `str` for a text field, an aware datetime turned into DRF's ISO 8601),
and DRF's own path for every other field and value. The JSON is the same, key for key and value for value.

What each field's reader does is decided once per serializer class (and time zone), not once per list:
building a ModelSerializer's fields (a deep copy of about twenty DRF fields, each re-made with its
validators) cost more than showing fifty rows. A list binds that plan to its serializer: an attribute read
as it is, a `SerializerMethodField` calling the serializer's own method (with its own context), and only a
value or a field the plan does not know asks for the serializer's bound fields, built then, as DRF would.
"""

import datetime
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone
from rest_framework import ISO_8601
from rest_framework import fields as drf_fields
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings

Reader = Callable[[Any], Any]
# Given the serializer a list is shown with, the reader of one field.
ReaderOf = Callable[[Any], Reader]
OMITTED = object()  # a field DRF leaves out of this row (SkipField)
NOT_SHORT = object()

# Fields whose `to_representation` returns a value of this type unchanged.
_UNCHANGED_TYPE: tuple[tuple[type[drf_fields.Field], type], ...] = (
    (drf_fields.BooleanField, bool),
    (drf_fields.IntegerField, int),
    (drf_fields.FloatField, float),
    (drf_fields.ChoiceField, str),
    (drf_fields.CharField, str),
)


def _drf_reader(field: drf_fields.Field) -> Reader:
    """What `Serializer.to_representation` does for one field."""

    def read(instance: Any) -> Any:
        try:
            attribute = field.get_attribute(instance)
        except SkipField:
            return OMITTED
        check_for_none = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
        return None if check_for_none is None else field.to_representation(attribute)

    return read


def _shortcut(name: str, slow: Reader, shown: Callable[[Any], Any]) -> Reader:
    """Reads attribute `name` and returns `shown(value)`, which gives NOT_SHORT for any value it does not
    know; that value, and an attribute missing, take DRF's own path (`slow`)."""

    def read(instance: Any) -> Any:
        try:
            value = getattr(instance, name)
        except (AttributeError, KeyError, ObjectDoesNotExist):
            return slow(instance)
        if value is None:
            return None
        result = shown(value)
        return slow(instance) if result is NOT_SHORT else result

    return read


def _same_if(kind: type) -> Callable[[Any], Any]:
    return lambda value: value if type(value) is kind else NOT_SHORT


def _json_value(value: Any) -> Any:
    return NOT_SHORT if callable(value) else value


# Zones that are UTC at every instant: a UTC value shown in one is the value itself.
_UTC_KEYS = ("UTC", "Etc/UTC")


def _iso_datetime(zone: Any) -> Callable[[Any], Any]:
    utc = zone is datetime.UTC or getattr(zone, "key", None) in _UTC_KEYS

    def shown(value: Any) -> Any:
        if type(value) is not datetime.datetime:
            return NOT_SHORT
        if utc and value.tzinfo is datetime.UTC:  # as the database gives it: no conversion to make
            return value.isoformat()[:-6] + "Z"
        if value.utcoffset() is None:
            return NOT_SHORT
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return shown


def _inherits(field: drf_fields.Field, base: type[drf_fields.Field], *methods: str) -> bool:
    """Whether `field` is a `base` whose `methods` are `base`'s own."""
    return isinstance(field, base) and all(
        getattr(type(field), method) is getattr(base, method) for method in methods
    )


def _shown(field: drf_fields.Field) -> Callable[[Any], Any] | None:
    """How DRF shows a plain value of this field, when that is known without calling it."""
    if isinstance(field, drf_fields.DateTimeField):
        if not _inherits(field, drf_fields.DateTimeField, "to_representation", "enforce_timezone"):
            return None
        iso = getattr(field, "format", api_settings.DATETIME_FORMAT)
        zone = field.timezone if hasattr(field, "timezone") else field.default_timezone()
        if isinstance(iso, str) and iso.lower() == ISO_8601 and zone is not None:
            return _iso_datetime(zone)
        return None
    if isinstance(field, drf_fields.JSONField):
        plain = _inherits(field, drf_fields.JSONField, "to_representation") and not field.binary
        return _json_value if plain else None
    for base, kind in _UNCHANGED_TYPE:
        if _inherits(field, base, "to_representation"):
            return _same_if(kind)
    return None


def _bound_drf_reader(serializer: Any, name: str) -> Reader:
    """DRF's own path for field `name` of `serializer`, its fields built (once) at the first value that
    needs them."""
    readers: list[Reader] = []

    def read(instance: Any) -> Any:
        if not readers:
            readers.append(_drf_reader(serializer.fields[name]))
        return readers[0](instance)

    return read


def _reader_of(field: drf_fields.Field) -> ReaderOf:
    """The reader of `field` for any serializer of its class, as a function of the serializer: a shortcut
    where DRF's result is known, else DRF's own path. Nothing of the field is kept but its name, source,
    method and how its values are shown."""
    name = str(field.field_name)
    if (
        isinstance(field, drf_fields.SerializerMethodField)
        and _inherits(field, drf_fields.SerializerMethodField, "to_representation")
        and _inherits(field, drf_fields.Field, "get_attribute")
        and field.source == "*"
    ):
        # DRF: the attribute of source "*" is the row itself, never None here; then the parent's method.
        method_name = field.method_name
        return lambda serializer: getattr(serializer, method_name)
    attrs = field.source_attrs
    shown = _shown(field) if len(attrs) == 1 and _inherits(field, drf_fields.Field, "get_attribute") else None
    if shown is None:
        return lambda serializer: _bound_drf_reader(serializer, name)
    attr = attrs[0]
    return lambda serializer: _shortcut(attr, _bound_drf_reader(serializer, name), shown)


_PLANS: dict[tuple[type, Any], list[tuple[str, ReaderOf]]] = {}


class ReadersMixin:
    """For a `Serializer`: `to_representation` through readers planned once per class and time zone,
    bound once per serializer instance (with `many=True`, once per list). The fields a class shows must be
    the same for all its serializers (as `StrictModelSerializer.get_fields` already has them)."""

    _readable_fields: Any

    @cached_property
    def _readers(self) -> list[tuple[str, Reader]]:
        key = (type(self), timezone.get_current_timezone() if settings.USE_TZ else None)
        plan = _PLANS.get(key)
        if plan is None:
            plan = _PLANS[key] = [
                (str(field.field_name), _reader_of(field)) for field in self._readable_fields
            ]
        return [(name, reader_of(self)) for name, reader_of in plan]

    def to_representation(self, instance: Any) -> dict[str, Any]:
        if isinstance(instance, Mapping):
            return super().to_representation(instance)  # type: ignore[misc]
        data = {}
        for name, read in self._readers:
            value = read(instance)
            if value is not OMITTED:
                data[name] = value
        return data
