"""The API's JSON renderer (orchestrator_studio/renderers.py) gives DRF's bytes exactly, through orjson
where that is safe and DRF's own path elsewhere."""

import dataclasses
import datetime
import decimal
import enum
import uuid
import zoneinfo

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer as DRFJSONRenderer
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

from orchestrator_studio.renderers import JSONRenderer, orjson_rendered

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


class Colour(enum.StrEnum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int


ORJSON_PAYLOADS = {
    "page": {
        "count": 2,
        "next": None,
        "previous": "http://testserver/api/agents/?page=1",
        "results": [
            {"name": "a", "enabled": True, "timeout_seconds": 30, "temperature": 0.7, "metadata": {}},
            {"name": "b", "enabled": False, "timeout_seconds": 5, "temperature": 1.0, "metadata": {"k": [1]}},
        ],
    },
    "unicode": {"text": 'é, 漢字, 🙂, \u2028 and \u2029, \x00 \x7f "quoted" \\ back'},
    "datetimes": {
        "utc": datetime.datetime(2026, 12, 1, 6, 0, 1, 123456, tzinfo=datetime.UTC),
        "paris": datetime.datetime(2026, 12, 1, 7, 0, tzinfo=PARIS),
        "naive": datetime.datetime(2026, 12, 1, 6, 0),  # noqa: DTZ001 (DRF writes it as it is)
        "date": datetime.date(2026, 12, 1),
        "time": datetime.time(6, 0, 1, 5),
        "duration": datetime.timedelta(seconds=90.5),
    },
    "numbers": {
        "decimal": decimal.Decimal("0.15"),
        "floats": [0.1, 3.0, -0.0, 1e16, 1.5e300, 123456.789, 0.0001, 2**63 - 1, -(2**63)],
        "bool_and_none": [True, False, None],
    },
    "other types": {
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "lazy": gettext_lazy("Not found."),
        "str enum": Colour.RED,
        "tuple": (1, "two"),
        "set": {3},
    },
    "serializer data": ReturnDict({"a": ReturnList([{"b": 1}], serializer=None)}, serializer=None),
    "a list": [1, "x", {"y": None}],
    "empty": {},
}

DRF_PATH_PAYLOADS = {
    "small float": {"price": 0.00001},
    "tiny float": {"price": 2.5e-7},
    "int key": {1: "one", "two": 2},
    "huge int": {"n": 2**70},
    "a string 0.0000 in it": {"text": "costs 0.00001 USD"},
}


def _drf(data, accepted="application/json"):
    return DRFJSONRenderer().render(data, accepted, {})


@pytest.mark.parametrize("data", ORJSON_PAYLOADS.values(), ids=ORJSON_PAYLOADS.keys())
def test_common_answers_are_rendered_by_orjson_with_drfs_bytes(data):
    assert orjson_rendered(data) is not None
    assert JSONRenderer().render(data, "application/json", {}) == _drf(data)


@pytest.mark.parametrize("data", DRF_PATH_PAYLOADS.values(), ids=DRF_PATH_PAYLOADS.keys())
def test_what_orjson_could_write_otherwise_takes_drfs_path(data):
    assert orjson_rendered(data) is None
    assert JSONRenderer().render(data, "application/json", {}) == _drf(data)


def test_a_dataclass_fails_as_in_drf():
    with pytest.raises(TypeError):
        _drf({"p": Point(1)})
    with pytest.raises(TypeError):
        JSONRenderer().render({"p": Point(1)}, "application/json", {})


def test_an_indented_answer_is_drfs():
    data = {"a": [1, {"b": None}]}
    accepted = "application/json; indent=2"
    assert (
        JSONRenderer().render(data, accepted, {})
        == _drf(data, accepted)
        == b'{\n  "a": [\n    1,\n    {\n      "b": null\n    }\n  ]\n}'
    )


def test_none_is_an_empty_body():
    assert JSONRenderer().render(None) == b""


def test_a_string_that_is_not_unicode_fails_as_in_drf():
    with pytest.raises(UnicodeEncodeError):
        _drf({"s": "\ud800"})
    with pytest.raises(UnicodeEncodeError):
        JSONRenderer().render({"s": "\ud800"}, "application/json", {})
