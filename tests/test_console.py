"""The embedded run's console: stage lines go to log files, the user sees result lines and errors."""
from __future__ import annotations

import io
import json
import subprocess
import sys

from components.common.telemetry import EVENT_PREFIX, EVENTS_ENV
from pipelines.console import RunConsole, headline, result_line


def _stage_json(folder, counts, seconds=2.5):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stage.json").write_text(json.dumps({"counts": counts, "timings_s": {"total": seconds}}))
    return folder


def test_result_line_says_what_went_in_and_out_and_what_was_refused():
    info = {"counts": {"images_in": 1631, "kept": 628, "rejected": {"no_face": 3, "not_in_top_k": 990}},
            "timings_s": {"total": 64.07}}
    line = result_line("select", info)
    assert line.startswith("select") and "1631 -> 628 images kept" in line
    assert "refused: not_in_top_k 990, no_face 3" in line and line.endswith("64.1 s")
    # counts that do not fit the stage's sentence still show, as numbers
    assert "images 3" in result_line("select", {"counts": {"images": 3}})


def test_console_routes_stage_output_to_logs_and_shows_results(tmp_path):
    shown = io.StringIO()
    dataset = _stage_json(tmp_path / "select-out", {"images_in": 10, "kept": 8, "rejected": {}})
    with RunConsole(tmp_path / "run", {"select-op": "select"}, out=shown) as console:
        print("12:00:00.000 - INFO - Executing task \x1b[96m'select-op'\x1b[0m")
        print('    {"executor_input": "a lot of json"}')
        print("    select: skipped a.png: no face")
        print(f"    {EVENT_PREFIX}progress " + json.dumps({"desc": "select", "n": 4, "total": 10}))
        assert console.bar is None or console.bar.n == 4
        print(f"    {EVENT_PREFIX}finished " + json.dumps({"stage": "select", "dataset": str(dataset)}))
        print("Task 'select-op' finished with status SUCCESS")
    log = (tmp_path / "run" / "logs" / "select.log").read_text()
    assert "a lot of json" in log and "skipped a.png" in log and "finished with status" in log
    assert EVENT_PREFIX not in log
    assert shown.getvalue().splitlines() == ["select     10 -> 8 images kept · 2.5 s"]
    assert sys.stdout is not console  # restored


def test_console_names_the_failing_stage_its_reason_and_log(tmp_path):
    shown = io.StringIO()
    console = RunConsole(tmp_path, {"train-op": "train"}, out=shown)
    with console:
        print("Executing task 'train-op'")
        print("Traceback (most recent call last):")
        print('  File "x.py", line 1')
        print("components.common.datasets.DatasetError: /data/missing: not a directory")
    message = console.failure()
    assert message.startswith("train failed: components.common.datasets.DatasetError: /data/missing: not a directory")
    assert str(tmp_path / "logs" / "train.log") in message
    assert shown.getvalue() == ""


def test_verbose_console_passes_everything_through(tmp_path):
    shown = io.StringIO()
    with RunConsole(tmp_path, {}, verbose=True, out=shown):
        print("Executing task 'identity-op'")
        print("executor detail")
    assert "executor detail" in shown.getvalue()
    assert "executor detail" in (tmp_path / "logs" / "identity-op.log").read_text()


def test_progress_events_only_inside_the_embedded_run():
    code = ("from components.common.telemetry import progress\n"
            "for _ in progress(range(3), desc='x'): pass\n")
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={"PATH": "", EVENTS_ENV: "0", "FERSYNTH_NO_PROGRESS": "1"})
    assert EVENT_PREFIX not in quiet.stdout
    events = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={"PATH": "", EVENTS_ENV: "1"})
    lines = [json.loads(line.split(" ", 2)[2]) for line in events.stdout.splitlines()
             if line.startswith(EVENT_PREFIX + "progress")]
    assert lines[-1] == {"desc": "x", "n": 3, "total": 3, "unit": "img"}


def test_headline_lists_the_numbers_and_the_report(tmp_path):
    summary = {"wall_s": 201.4, "run_dir": str(tmp_path), "report": "report.html",
               "headline": {"identities": 248, "images_made": 1631, "images_kept": 1546, "train_images": 1052,
                            "held_out_accuracy": 0.85, "held_out_macro_f1": 0.848,
                            "real_test_accuracy": {"emopy:": 0.481}, "fid_kept": 56.4, "kid_kept": -0.0006}}
    text = headline(summary)
    assert text.splitlines()[0] == f"run finished in 201 s: {tmp_path}"
    assert "248 identities, 1631 images made, 1546 kept, 1052 trained on" in text
    assert "emopy: accuracy 0.481" in text and str(tmp_path / "report.html") in text


def test_parallel_tasks_print_at_once_without_losing_a_line(tmp_path):
    # KFP's local runner executes a ParallelFor's tasks (the shards) in threads that all print here:
    # a task's start switched the log file under another's write ("I/O operation on closed file").
    import threading

    errors, shown = [], io.StringIO()
    stages = {"expression-part-op": "expression", "adapt-part-op": "adapt"}
    with RunConsole(tmp_path / "run", stages, out=shown) as console:
        def task(k: int) -> None:
            try:
                for i in range(300):
                    name = "expression-part-op" if (k + i) % 7 else "adapt-part-op"
                    console.write(f"12:00:00.000 - INFO - Executing task '{name}'\n")
                    console.write(f"    shard {k} line {i}\n")
            except Exception as exc:  # noqa: BLE001 (any error in a task thread is the failure)
                errors.append(exc)

        threads = [threading.Thread(target=task, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
    logs = (tmp_path / "run" / "logs" / "expression.log").read_text() + \
        (tmp_path / "run" / "logs" / "adapt.log").read_text()
    assert sum(f"shard {k} line {i}\n" in logs for k in range(6) for i in range(300)) == 6 * 300
