"""The platform-line parser on real lines published in public repositories.

``fixtures/report_lines.json`` holds each line as published (tabs restored where a file stored
them as ``\\t`` escapes), its source (repository, path, commit and line, or the issue's address),
and the values the parser must read. The published lines cover cold and warm starts, 100 ms and
1 ms billing, an old-style timeout (no ``Status``), X-Ray fields on the line and on a following
line, SnapStart's Restore Duration, a leading timestamp, and the JSON formats (Logs API and
Telemetry API ``platform.report``, ``platform.start``, ``platform.initReport``).

Not found with a citable source: a new-style ``Status: timeout`` / ``Status: error`` REPORT line
and a text INIT_REPORT line. Those shapes are checked on the lines labkit's own simulator writes
(``labkit.logs``, whose format the facts sheet documents from real logs), labelled as such below.
A REPORT line carries no architecture, so an arm64 function's line has the same shape as these.
"""

import json
import math
import pathlib

import pytest

from labkit import billing, logs
from labkit.aws import reportlog

FIXTURES = json.loads((pathlib.Path(__file__).parent / "fixtures" / "report_lines.json").read_text())


def _same(got, want):
    if want is None:
        return got is None or (isinstance(got, float) and math.isnan(got))
    if isinstance(want, float):
        return got == pytest.approx(want)
    return got == want


def test_the_fixture_file_has_at_least_ten_sourced_lines_of_each_kind():
    assert len(FIXTURES) >= 10
    for fx in FIXTURES:
        assert fx["source"]["repository"] and (fx["source"].get("path") or fx["source"].get("url"))
    assert {fx["format"] for fx in FIXTURES} == {"text", "json"}
    reports = [fx for fx in FIXTURES if fx["expected"].get("kind", "REPORT") == "REPORT"]
    assert any(fx["expected"]["init_duration_ms"] for fx in reports)          # cold
    assert any(not fx["expected"]["init_duration_ms"] for fx in reports)      # warm


@pytest.mark.parametrize("fx", FIXTURES, ids=[f"{i}-{fx['source']['repository'].split('/')[-1]}"
                                              for i, fx in enumerate(FIXTURES)])
def test_parses_a_real_published_line(fx):
    rec = reportlog.parse_line(fx["line"])
    assert rec is not None, fx["line"]
    want = dict(fx["expected"])
    assert rec.kind == want.pop("kind", "REPORT")
    for field, value in want.items():
        assert _same(getattr(rec, field), value), (field, getattr(rec, field), value)


def test_billed_duration_of_real_lines_follows_the_billing_model_of_their_time():
    by_id = {fx["expected"].get("request_id"): reportlog.parse_line(fx["line"]) for fx in FIXTURES}
    # 1 ms billing, init not billed (Dec 2020 - Jul 2025)
    r = by_id["8f507cfc-xmpl-4697-b07a-ac58fc914c95"]
    assert billing.billed_duration_ms(r.duration_ms, r.init_duration_ms, model="2020-12") == r.billed_duration_ms
    # 100 ms billing before Dec 2020
    r = by_id["c793869b-ee49-115b-a5b6-4fd21e8dedac"]
    assert billing.billed_duration_ms(r.duration_ms, model="pre-2020-12") == r.billed_duration_ms
    r = by_id["f08bb4c8-d6b2-4f05-ac17-af7e2ba005fb"]
    assert billing.billed_duration_ms(r.duration_ms, model="pre-2020-12") == r.billed_duration_ms


def test_parse_log_reads_a_whole_tail_and_folds_xray_into_its_report():
    fx = next(f for f in FIXTURES if "\nXRAY" in f["line"])
    rid = fx["expected"]["request_id"]
    text = f"START RequestId: {rid} Version: $LATEST\nhello\nEND RequestId: {rid}\n" + fx["line"]
    recs = reportlog.parse_log(text)
    assert [r.kind for r in recs] == ["START", "END", "REPORT"]
    assert recs[-1].xray_trace_id == fx["expected"]["xray_trace_id"]
    assert reportlog.reports(text)[rid].duration_ms == pytest.approx(619.31)


def test_other_lines_are_not_platform_lines():
    for line in ("", "hello", "[INFO] REPORT card ready", "2024-01-01T00:00:00Z\tabc\tINFO\tSTART of batch",
                 '{"level": "INFO", "message": "x"}', '{"type": "platform.runtimeDone", "record": {}}'):
        assert reportlog.parse_line(line) is None, line


# -- shapes without a citable published line: labkit's simulator format (labkit.logs) ----------

def test_new_style_status_fields_as_labkit_writes_them():
    line = logs.report_line("r-1", 3000.0, 3123, 1024, init_duration_ms=122.5, status="timeout")
    r = reportlog.parse_line(line)
    assert (r.duration_ms, r.billed_duration_ms, r.init_duration_ms, r.status) == (3000.0, 3123, 122.5, "timeout")
    line = logs.report_line("r-2", 80.0, 81, 128, status="error", error_type="Runtime.ExitError")
    r = reportlog.parse_line(line)
    assert (r.status, r.error_type, r.cold) == ("error", "Runtime.ExitError", False)


def test_text_init_report_in_the_documented_shape():
    # The facts sheet, section 4, quotes this shape from the Developer Guide.
    r = reportlog.parse_line("INIT_REPORT Init Duration: 1236.04 ms\tPhase: init\tStatus: error\t"
                             "Error Type: Extension.Crash")
    assert (r.kind, r.init_duration_ms, r.phase, r.status, r.error_type) == \
        ("INIT_REPORT", 1236.04, "init", "error", "Extension.Crash")
