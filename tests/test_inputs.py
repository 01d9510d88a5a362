"""`validated`: one serializer per class and thread checks every input, its fields built once, and no
result of one input is seen by the next."""

import threading

import pytest
from rest_framework import serializers

from orchestrator_studio.errors import ValidationFailed
from orchestrator_studio.inputs import StrictBooleanField, validated


class Counted(serializers.Serializer):
    name = serializers.CharField(max_length=5)
    flag = StrictBooleanField(required=False, default=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False, default=list)

    builds = 0

    def get_fields(self):
        type(self).builds += 1
        return super().get_fields()


def test_each_input_gets_its_own_result_and_errors():
    assert validated(Counted, {"name": "ann", "tags": ["a"]}) == {"name": "ann", "flag": False, "tags": ["a"]}

    with pytest.raises(ValidationFailed) as invalid:
        validated(Counted, {"name": "too long", "flag": "yes"})
    assert set(invalid.value.fields) == {"name", "flag"}

    # Neither the errors nor the values of the inputs before come back.
    assert validated(Counted, {"name": "bo", "flag": True}) == {"name": "bo", "flag": True, "tags": []}
    with pytest.raises(ValidationFailed) as missing:
        validated(Counted, {})
    assert set(missing.value.fields) == {"name"}


def test_the_fields_are_built_once_per_thread():
    def check_many() -> None:
        for number in range(50):
            validated(Counted, {"name": f"n{number}"})

    Counted.builds = 0
    check_many()
    worker = threading.Thread(target=check_many)
    worker.start()
    worker.join()

    # This thread's serializer may have been built by the test before: at most one more here, one there.
    assert 1 <= Counted.builds <= 2


def test_threads_checking_at_once_each_get_their_own_inputs_back():
    results: dict[int, list[dict]] = {}
    start = threading.Barrier(4)

    def check(worker: int) -> None:
        start.wait()
        results[worker] = [validated(Counted, {"name": f"{worker}-{n % 100}"}) for n in range(300)]

    workers = [threading.Thread(target=check, args=(number,)) for number in range(4)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()

    for worker, checked in results.items():
        assert [result["name"] for result in checked] == [f"{worker}-{n % 100}" for n in range(300)]
