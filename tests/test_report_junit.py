"""junit.xml: valid XML in the shape CI systems read (testsuites > testsuite > testcase [> failure])."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from evalstack.report import render_junit
from fixtures.report.crafted import PAYLOADS, build_run


def _parse(text: str) -> ET.Element:
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(text.encode("utf-8"))


def test_one_testcase_per_gate_rule_with_failures():
    root = _parse(render_junit(build_run(incomplete=True)))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    assert suite.get("name") == "evalstack.crafted"
    cases = suite.findall("testcase")
    gate = [c for c in cases if c.get("classname").startswith("evalstack.gate.")]
    assert [(c.get("name"), c.get("classname")) for c in gate] == [
        ("intent/accuracy max_regression 0.05 [ckpt-200]", "evalstack.gate.intent"),
        ("intent/accuracy max_regression 0.05 [ckpt-100]", "evalstack.gate.intent"),
        ("summaries/toxicity_rate max 0.2 [ckpt-100]", "evalstack.gate.summaries"),
    ]
    failed = [c for c in cases if c.find("failure") is not None]
    f = gate[0].find("failure")
    assert f.get("message") == "ckpt-200 is significantly worse than base by more than 0.05"  # hand-made result
    assert f.get("type") == "gate.max_regression"
    assert "value -0.3333, bound 0.0500, CI [-0.4133, -0.2533], p 0.0100" in f.text
    assert gate[1].find("failure") is None and gate[2].find("failure") is None
    # generation completeness: ckpt-100 failed one summaries example
    gen = [c for c in cases if c.get("classname").startswith("evalstack.run")]
    assert gen[0].get("name") == "run completed"
    assert gen[0].find("failure").get("message").startswith("INCOMPLETE: 1 item failed after retries")
    assert "finish with: evalstack run CONFIG --resume" in gen[0].find("failure").text
    assert [c.get("name") for c in gen[1:]] == [
        f"{t}/{m} generations" for t in ("intent", "summaries") for m in ("base", "ckpt-100", "ckpt-200")
    ]
    gen_failed = [c.get("name") for c in gen if c.find("failure") is not None]
    assert gen_failed == ["run completed", "summaries/ckpt-100 generations"]
    assert (
        next(c for c in gen if c.get("name") == "summaries/ckpt-100 generations").find("failure").get("message")
        == "1 of 10 generations failed after retries"
    )
    # counts agree with the cases, at both levels
    for el in (root, suite):
        assert int(el.get("tests")) == len(cases) == 3 + 1 + 6
        assert int(el.get("failures")) == len(failed) == 3
        assert el.get("errors") == "0"
    assert suite.get("timestamp") == "2026-03-01T12:34:56"
    assert suite.get("time") == "1.750"
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props == {"baseline": "base", "config_digest": "ab" * 32, "evalstack_version": "0.1.0", "gate": "incomplete"}
    assert list(suite)[0].tag == "properties"  # the XSD wants properties first


def test_no_gate_still_reports_completion():
    run = build_run(gate=False)
    run.tasks["summaries"].models["ckpt-100"].failed = 0
    suite = _parse(render_junit(run)).find("testsuite")
    cases = suite.findall("testcase")
    assert not [c for c in cases if c.get("classname").startswith("evalstack.gate")]
    assert cases[0].get("name") == "run completed"
    assert suite.get("tests") == "7" and suite.get("failures") == "0"
    assert {p.get("name"): p.get("value") for p in suite.find("properties")}["gate"] == "none"


def test_payloads_and_control_characters_stay_valid_xml():
    run = build_run(evil=True)
    run.gate.rules[0].message += " bell\x07 nul\x00 esc\x1b end"
    text = render_junit(run)
    root = _parse(text)
    f = root.find("testsuite/testcase/failure")
    assert f.get("message").startswith("ckpt-200 is significantly worse")
    assert PAYLOADS[1] in f.get("message")  # kept as text, escaped by the serializer
    assert "bell nul esc end" in f.get("message")
    assert "<img" not in text
