"""junit.xml: the gate as test results that CI systems (GitHub, GitLab, Jenkins, Azure) show.

Layout: ``<testsuites>`` > one ``<testsuite name="evalstack.<run>">`` per run, with

- one ``<testcase classname="evalstack.gate.<task>">`` per gate rule, failed (``<failure>`` with the rule's
  message) when the rule failed, ``<skipped>`` ("not judged") when it could not be judged (an incomplete
  run), passed with its message in ``system-out`` otherwise (an inconclusive rule under ``warn`` too);
- always, one ``<testcase classname="evalstack.run" name="run completed">`` (failed with the INCOMPLETE
  headline, the failures per model and stage, the error kinds and the ``--resume`` command when items
  failed after retries) and one
  ``<testcase classname="evalstack.run.<task>" name="<task>/<model> generations">`` per task and model,
  failed when generations failed after retries (the run then exits 3 and ``--resume`` retries exactly
  those), and one ``<testcase name="<task>/<model> judge <rubric>">`` per judge, failed when judge
  requests failed after retries (exit 3 too). So a run with no gate still shows what finished, and a run
  with a gate shows both.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..results import GateRuleResult, RunResult
from ._format import counted, fmt_ci, fmt_int, fmt_num, fmt_p
from ._runinfo import model_order
from ._verdict import verdict
from ._view import incomplete_lines

_XML_BAD = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _x(text: object) -> str:
    """Text that XML 1.0 can hold (control characters dropped)."""
    return _XML_BAD.sub("", "" if text is None else str(text))


def _rule_details(r: GateRuleResult) -> str:
    return (
        f"metric {r.metric}, model {r.model or 'all'}, kind {r.kind}: value {fmt_num(r.value)}, "
        f"bound {fmt_num(r.bound)}, CI {fmt_ci(r.ci_low, r.ci_high)}, p {fmt_p(r.p_value)}"
        + (f"; {r.message}" if r.message else "")
    )


def _case(
    suite: ET.Element,
    *,
    name: str,
    classname: str,
    failure: tuple[str, str, str] | None,
    out: str = "",
    skipped: str = "",
) -> None:
    tc = ET.SubElement(suite, "testcase", name=_x(name), classname=_x(classname), time="0")
    if skipped:
        ET.SubElement(tc, "skipped", message=_x(skipped))
    elif failure is not None:
        message, kind, text = failure
        f = ET.SubElement(tc, "failure", message=_x(message), type=_x(kind))
        f.text = _x(text)
    if out:
        ET.SubElement(tc, "system-out").text = _x(out)


def _timestamp(created_at: str) -> str:
    """ISO 8601 without zone or fraction (the JUnit XSD's xs:dateTime form)."""
    m = re.match(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", created_at or "")
    return m.group(0) if m else ""


def render_junit(run: RunResult) -> str:
    """junit.xml text for ``run`` (see the module docstring for the layout)."""
    suite = ET.Element("testsuite", name=_x(f"evalstack.{run.name}"))
    props = ET.SubElement(suite, "properties")
    head = verdict(run)
    gate_state = {"incomplete": "incomplete", "warn": "passed with inconclusive rules"}.get(
        head.status, "none" if run.gate is None else ("passed" if run.gate.passed else "failed")
    )
    for k, v in (
        ("baseline", run.baseline),
        ("config_digest", run.config_digest),
        ("evalstack_version", run.evalstack_version),
        ("gate", gate_state),
    ):
        ET.SubElement(props, "property", name=k, value=_x(v))

    for r in run.gate.rules if run.gate else []:
        task = r.metric.split("/", 1)[0]
        name = r.rule + (f" [{r.model}]" if r.model and r.model not in r.rule else "")
        detail = _rule_details(r)
        _case(
            suite,
            name=name,
            classname=f"evalstack.gate.{task}",
            failure=None if r.passed else (r.message or f"{name} failed", f"gate.{r.kind}", detail),
            out=detail,
            skipped=f"not judged: {r.message}" if r.outcome == "not_judged" else "",
        )

    what = f"{counted(len(run.tasks), 'task')}, {counted(len(run.models), 'model')}, baseline {run.baseline}"
    _case(
        suite,
        name="run completed",
        classname="evalstack.run",
        failure=(head.headline, "incomplete", "\n".join(incomplete_lines(run)))
        if head.status == "incomplete"
        else None,
        out=what,
    )
    for task_name in run.tasks:  # config order
        summary = run.tasks[task_name]
        for m in model_order(run):
            mts = summary.models.get(m)
            if mts is None:
                continue
            msg = f"{fmt_int(mts.failed)} of {fmt_int(mts.n_examples)} generations failed after retries"
            _case(
                suite,
                name=f"{task_name}/{m} generations",
                classname=f"evalstack.run.{task_name}",
                failure=(msg, "generation", f"finish with `{_resume(run)}` to retry exactly those")
                if mts.failed
                else None,
                out=msg,
            )
            for rubric in sorted(mts.judge_failed):
                nf, nu = mts.judge_failed[rubric], mts.judge_unparseable.get(rubric, 0)
                msg = (
                    f"{fmt_int(nf)} of {fmt_int(mts.n_examples)} judge requests failed after retries; "
                    f"{counted(nu, 'reply', 'replies')} unparseable (unscored)"
                )
                _case(
                    suite,
                    name=f"{task_name}/{m} judge {rubric}",
                    classname=f"evalstack.run.{task_name}",
                    failure=(msg, "judge", "re-run with `evalstack run CONFIG --resume` to retry exactly those")
                    if nf
                    else None,
                    out=msg,
                )

    cases = suite.findall("testcase")
    failures = sum(1 for c in cases if c.find("failure") is not None)
    skipped = sum(1 for c in cases if c.find("skipped") is not None)
    total_time = f"{sum(v for v in run.timings.values() if isinstance(v, (int, float))):.3f}"
    suite.attrib.update(
        tests=str(len(cases)), failures=str(failures), errors="0", skipped=str(skipped), time=total_time
    )
    if _timestamp(run.created_at):
        suite.set("timestamp", _timestamp(run.created_at))
    root = ET.Element(
        "testsuites",
        name="evalstack",
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time=total_time,
    )
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _resume(run: RunResult) -> str:
    info = run.incomplete
    return info.resume_command if info is not None and info.resume_command else "evalstack run CONFIG --resume"
