"""A damaged cache never breaks a run for good (issue 13 item 5).

A damaged *row* (bad JSON, an unknown key, `text: null`, a wrong type, not an object, bytes that are not
UTF-8) or a dropped table is a cache miss: re-requested, overwritten, counted as `cache_repaired` in
run.json, and the next run is answered by the cache again. A damaged *file* (garbage header, truncated,
wrong schema version, wrong table schema, a corrupt page, another program's database) stops the run before
any request with one line naming `evalstack cache check FILE` and `evalstack cache repair FILE`; `repair`
salvages the good rows into a new file and leaves the original as it was.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from evalstack.cli import main

N = 6
LONG = " ".join(f"w{i}" for i in range(700))  # ~4 kB per output: rows span several pages


def setup(tmp: Path, url: str) -> Path:
    rows = [{"id": f"e{i}", "q": f"question {i}", "a": "x"} for i in range(N)]
    (tmp / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp / "cfg.yaml").write_text(f"""\
name: dmg
baseline: base
models:
  base: {{provider: openai, model: m-1, base_url: "{url}", api_key_env: null, max_tries: 1}}
tasks:
  - name: qa
    data: {{path: data.jsonl, id: id}}
    prompt: {{user: "Q: {{{{ q }}}}"}}
    reference: a
    metrics: [exact_match]
cache: cache.sqlite
output: out
""")
    return tmp / "cfg.yaml"


def run(cfg: Path, capsys) -> tuple[int, str]:
    shutil.rmtree(cfg.parent / "out", ignore_errors=True)
    code = main(["run", str(cfg), "-q"])
    return code, capsys.readouterr().err


def stats(cfg: Path) -> dict:
    return json.loads((cfg.parent / "out" / "run.json").read_text())["requests"]["base"]


def outputs(cfg: Path) -> dict[str, str]:
    return {
        r["id"]: r["output"] for r in map(json.loads, (cfg.parent / "out" / "examples.jsonl").read_text().splitlines())
    }


@pytest.fixture
def filled(srv, tmp_path: Path, capsys):
    srv.reply_with(lambda req: LONG + " " + req["messages"][-1]["content"])
    cfg = setup(tmp_path, srv.base_url)
    assert run(cfg, capsys)[0] == 0
    assert srv.count("/chat/completions") == N
    db = tmp_path / "cache.sqlite"
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0
    return cfg, db


def _sql(db: Path, *stmts: tuple) -> None:
    con = sqlite3.connect(db)
    for st in stmts:
        con.execute(*st)
    con.commit()
    con.close()


def _set(db: Path, value, n: int = 2) -> None:
    """Overwrite the stored response of the first ``n`` rows with ``value``."""
    _sql(
        db,
        (
            "UPDATE responses SET response=? WHERE rowid IN (SELECT rowid FROM responses ORDER BY rowid LIMIT ?)",
            (value, n),
        ),
    )


ROW_DAMAGE = {
    "bad JSON": lambda db: _set(db, '{"text": "cut in ha'),
    "unknown key": lambda db: _set(db, json.dumps({"text": "old", "mystery": 1})),
    "text null": lambda db: _set(db, json.dumps({"text": None, "prompt_tokens": 3})),
    "wrong type": lambda db: _set(db, json.dumps({"text": "old", "logprobs": "not a list"})),
    "not an object": lambda db: _set(db, json.dumps(["text", "old"])),
    "not UTF-8": lambda db: _set(db, b'{"text": "\xff\xfe"}'),
}


@pytest.mark.parametrize("kind", list(ROW_DAMAGE))
def test_damaged_rows_are_misses_requested_again_and_overwritten(srv, filled, capsys, kind: str) -> None:
    cfg, db = filled
    good = outputs(cfg)
    ROW_DAMAGE[kind](db)
    code, err = run(cfg, capsys)
    assert code == 0, err
    assert srv.count("/chat/completions") == N + 2  # exactly the two damaged rows were sent again
    st = stats(cfg)
    assert st["cache_repaired"] == 2 and st["cached"] == N - 2 and st["requests"] == 2
    assert outputs(cfg) == good
    # the rows were overwritten: the next run is all cache, nothing repaired
    code, err = run(cfg, capsys)
    assert code == 0 and srv.count("/chat/completions") == N + 2
    assert stats(cfg)["cache_repaired"] == 0 and stats(cfg)["cached"] == N


def test_dropped_table_is_a_cold_cache(srv, filled, capsys) -> None:
    cfg, db = filled
    _sql(db, ("DROP TABLE responses",))
    code, err = run(cfg, capsys)
    assert code == 0, err
    assert srv.count("/chat/completions") == 2 * N
    code, _ = run(cfg, capsys)
    assert code == 0 and srv.count("/chat/completions") == 2 * N


def _garbage_header(db: Path) -> None:
    with open(db, "r+b") as fh:
        fh.write(b"\x00garbage!" * 11)


def _truncate(db: Path) -> None:
    data = db.read_bytes()
    db.write_bytes(data[: len(data) * 2 // 3])


def _corrupt_page(db: Path) -> None:
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    data[page * 2 : page * 2 + 64] = b"\xee" * 64  # page 3's b-tree header
    db.write_bytes(bytes(data))


FILE_DAMAGE = {
    "garbage header": (_garbage_header, "not an SQLite database"),
    "truncated": (_truncate, "truncated"),
    "wrong schema version": (
        lambda db: _sql(db, ("UPDATE meta SET v='99' WHERE k='schema_version'",)),
        "schema version '99'",
    ),
    "wrong table schema": (
        lambda db: _sql(db, ("ALTER TABLE responses DROP COLUMN provider",)),
        "lacks the column(s) provider",
    ),
    "corrupt page": (_corrupt_page, "malformed"),
}


@pytest.mark.parametrize("kind", list(FILE_DAMAGE))
def test_damaged_file_is_one_line_naming_check_and_repair(srv, filled, capsys, kind: str) -> None:
    cfg, db = filled
    damage, reason = FILE_DAMAGE[kind]
    damage(db)
    before = db.read_bytes()
    code, err = run(cfg, capsys)
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert reason in lines[0], lines[0]
    assert f"evalstack cache check {db}" in lines[0] and f"evalstack cache repair {db}" in lines[0]
    assert srv.count("/chat/completions") == N  # nothing was sent
    assert db.read_bytes() == before  # and the damaged file was not touched
    # check: says damaged (exit 1) and changes nothing
    assert main(["cache", "check", str(db)]) == 1
    out = capsys.readouterr().out
    assert "damaged" in out and f"evalstack cache repair {db}" in out
    assert db.read_bytes() == before
    # repair: a new file with the good rows; the original kept as it was
    assert main(["cache", "repair", str(db)]) == 0
    out = capsys.readouterr().out
    fixed = db.with_name("cache.repaired.sqlite")
    assert fixed.is_file() and db.read_bytes() == before and str(fixed) in out
    assert main(["cache", "check", str(fixed)]) == 0
    salvaged = sqlite3.connect(fixed).execute("SELECT count(*) FROM responses").fetchone()[0]
    assert 0 < salvaged <= N if kind != "truncated" else 0 <= salvaged <= N
    # the repaired file in place: the run works, and only what was lost is sent again
    shutil.move(fixed, db)
    code, err = run(cfg, capsys)
    assert code == 0, err
    assert srv.count("/chat/completions") == N + (N - salvaged)
    assert stats(cfg)["cached"] == salvaged


def test_another_programs_database_is_refused_untouched(srv, tmp_path: Path, capsys) -> None:
    cfg = setup(tmp_path, srv.base_url)
    db = tmp_path / "cache.sqlite"
    _sql(db, ("CREATE TABLE invoices(id INTEGER PRIMARY KEY, total REAL)",), ("INSERT INTO invoices VALUES (1, 9.5)",))
    before = db.read_bytes()
    code, err = run(cfg, capsys)
    assert code == 2 and "not an evalstack cache" in err and "invoices" in err
    assert db.read_bytes() == before and srv.count("/chat/completions") == 0


def test_repair_never_overwrites(srv, filled, capsys) -> None:
    cfg, db = filled
    other = db.with_name("cache.repaired.sqlite")
    other.write_text("mine")
    assert main(["cache", "repair", str(db)]) == 2
    assert "exists already" in capsys.readouterr().err and other.read_text() == "mine"
    assert main(["cache", "check", str(db)]) == 0 and "ok" in capsys.readouterr().out
