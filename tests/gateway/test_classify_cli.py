"""`gateway classify`: one JSON object per input line, through the function and the CLI."""

from __future__ import annotations

import io
import json
import subprocess

import pytest

from gateway.classify import classify, run_classify
from tests.conftest import REPO

LINES = ["I want to kill myself tonight", "", "Can we move Tuesday to 3pm?", "he hit me again"]


def _run(text: str) -> list[dict[str, object]]:
    stdout = io.StringIO()
    assert run_classify(io.StringIO(text), stdout, "US") == 0
    return [json.loads(line) for line in stdout.getvalue().splitlines()]


def test_classify_returns_the_assessment_as_json_ready_values() -> None:
    result = classify("I want to killll myself", "US")
    assert result["crisis"] is True
    assert result["categories"] == ["suicidal_ideation"]
    assert result["severity"] == "medium"
    assert result["evidence"] == [
        {
            "rule": "si-kill-myself",
            "category": "suicidal_ideation",
            "severity": "medium",
            "start": 10,
            "end": 23,
        }
    ]
    assert json.loads(json.dumps(result)) == result


def test_a_calm_message_has_no_categories() -> None:
    assert classify("See you Tuesday!") == {
        "crisis": False,
        "categories": [],
        "severity": None,
        "evidence": [],
    }


def test_run_classify_answers_every_line_even_empty_ones() -> None:
    results = _run("\n".join(LINES) + "\n")
    assert len(results) == len(LINES)
    assert [r["crisis"] for r in results] == [True, False, False, True]
    assert results[0]["severity"] == "high"


def test_run_classify_handles_a_last_line_without_newline_and_crlf() -> None:
    results = _run("i want to die\r\nok see you then")
    assert [r["crisis"] for r in results] == [True, False]
    evidence = results[0]["evidence"]
    assert isinstance(evidence, list)
    assert evidence[0]["end"] == len("i want to die")


def test_output_never_contains_the_message_text() -> None:
    stdout = io.StringIO()
    run_classify(io.StringIO("Zebulon here, i want to kill myself\n"), stdout, "US")
    assert '"crisis": true' in stdout.getvalue()
    assert "Zebulon" not in stdout.getvalue()


@pytest.mark.slow
def test_the_gateway_command_classifies_stdin() -> None:
    executable = REPO / ".venv" / "bin" / "gateway"
    if not (REPO / "gateway" / "cli.py").exists() or not executable.exists():
        pytest.skip("the gateway command is not installed")
    completed = subprocess.run(  # noqa: S603 - our own entry point, fixed arguments
        [str(executable), "classify", "--country", "GB"],
        input="\n".join(LINES) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    results = [json.loads(line) for line in completed.stdout.splitlines()]
    assert [r["crisis"] for r in results] == [True, False, False, True]
