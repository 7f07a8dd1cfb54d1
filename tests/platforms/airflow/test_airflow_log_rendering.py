"""Log rendering and the per-try cursor, on answers shaped like Airflow's (captured from 3.3.2 and 2.10.5)."""

from __future__ import annotations

from trigger_schedule.platforms.airflow_logs import (
    LogCursor,
    TryKey,
    content_events,
    event_lines,
    settle,
    text_body,
    text_lines,
    tries_to_read,
)

V2_EVENTS = [
    {"event": "::group::Log message source details"},
    {"event": "/airflow/logs/dag_id=d/run_id=r/task_id=t/attempt=1.log"},
    {"event": "::endgroup::"},
    {"timestamp": "2026-11-23T19:53:40.708Z", "event": "synced 5 rows", "level": "info", "logger": "x", "rows": 5},
    {
        "timestamp": "2026-11-23T19:53:53.044Z",
        "event": "Task failed with exception",
        "level": "error",
        "task_id": "t",
        "error_detail": [
            {
                "exc_type": "RuntimeError",
                "exc_value": "boom",
                "frames": [{"filename": "/dags/d.py", "lineno": 12, "name": "explode"}],
            }
        ],
    },
]


def test_v2_events_become_lines_with_tracebacks_and_no_group_commands() -> None:
    lines = event_lines(V2_EVENTS)
    assert "::endgroup::" not in "\n".join(lines) and "::group::" not in "\n".join(lines)
    assert "2026-11-23T19:53:40.708Z INFO - synced 5 rows rows=5" in lines
    assert "2026-11-23T19:53:53.044Z ERROR - Task failed with exception" in lines
    assert '    File "/dags/d.py", line 12, in explode' in lines
    assert "  RuntimeError: boom" in lines


def test_v1_text_is_split_and_defused() -> None:
    text = "host\n INFO - ::group::Pre task\nline one\n INFO - ::endgroup::\nline two\n"
    assert text_lines(text) == ["host", " INFO - > Pre task", "line one", "line two"]


def test_tries_cover_retries_and_skip_unstarted_tasks() -> None:
    task_instances = [
        {"task_id": "b", "map_index": -1, "try_number": 2, "state": "running", "start_date": "2026-01-01T00:00:02Z"},
        {"task_id": "a", "map_index": -1, "try_number": 1, "state": "success", "start_date": "2026-01-01T00:00:01Z"},
        {"task_id": "c", "map_index": -1, "try_number": 1, "state": "scheduled", "start_date": None},
    ]
    found = tries_to_read(task_instances, LogCursor())
    assert found == [(TryKey("a", -1, 1), True), (TryKey("b", -1, 1), True), (TryKey("b", -1, 2), False)]


def test_a_finished_try_is_read_once_more_then_never() -> None:
    key = TryKey("a", -1, 1)
    ti = [{"task_id": "a", "map_index": -1, "try_number": 1, "state": "success", "start_date": "x"}]
    cursor = settle(LogCursor(), key, True)
    assert tries_to_read(ti, cursor) == [(key, True)]  # trailing lines land after the state changes
    cursor = settle(cursor, key, True)
    assert tries_to_read(ti, cursor) == []


def test_source_details_do_not_shift_offsets() -> None:
    """A running task's log has one more header entry ("Could not read served logs") than a finished one's."""
    running = [*V2_EVENTS[:2], {"event": "Could not read served logs: refused"}, *V2_EVENTS[2:4]]
    finished = V2_EVENTS
    assert content_events(running) == [V2_EVENTS[3]]
    assert content_events(finished)[1:] == [V2_EVENTS[4]]  # the next read continues after the same event
    head = "vm\n INFO - ::group::Log message source details\n*** Found local files:\n"
    running_text = head + "*** Could not read served logs\n INFO - ::endgroup::\n[t1] one\n"
    finished_text = head + " INFO - ::endgroup::\n[t1] one\n[t2] two\n"
    assert text_body(running_text) == "[t1] one\n"
    assert text_body(finished_text)[len(text_body(running_text)) :] == "[t2] two\n"
    assert text_body(head) == ""  # header not complete yet: nothing counted
