"""`python -m bench --profile`: the served application profiles the CPU time of every thread of its process
between SIGUSR1 and SIGUSR2, and writes what took it."""

import os
import signal
import threading

from bench.profiling import SCENARIO_FILE


def _busy_on_a_thread_of_its_own() -> None:
    total = 0
    for number in range(300_000):
        total += number * number
    assert total > 0


def test_a_profile_holds_the_cpu_time_of_work_on_another_thread(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_PROFILE_DIR", str(tmp_path))
    import bench.profiled_asgi  # noqa: F401  (installs the handlers in this, the main, thread)

    os.kill(os.getpid(), signal.SIGUSR1)
    worker = threading.Thread(target=_busy_on_a_thread_of_its_own)
    worker.start()
    worker.join()
    (tmp_path / SCENARIO_FILE).write_text("scenario")
    os.kill(os.getpid(), signal.SIGUSR2)

    report = (tmp_path / f"profile-scenario-{os.getpid()}.txt").read_text()
    assert report.startswith("CPU seconds profiled (all threads): ")
    assert "_busy_on_a_thread_of_its_own" in report
    assert (tmp_path / f"profile-scenario-{os.getpid()}.pstat").stat().st_size > 0
