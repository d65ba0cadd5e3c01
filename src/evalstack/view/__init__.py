"""The review workbench: ``evalstack view RUN [RUN...]``, a local web app to read, compare and label examples.

A Starlette app served by uvicorn on 127.0.0.1 only, behind a random token in every URL, over the run
folders' examples.jsonl loaded into an in-process DuckDB (``_store``): each list page is one query with
its filters, sort and page, so a 100k-example run never goes whole to the browser. Labels are appended
to ``labels.jsonl`` in the run folder (``_labels``) and put to work by ``evalstack labels export``
(``_export``). starlette, uvicorn and duckdb are imported only when the command runs.
"""

from ._labels import LABELS, append_label, latest_labels, read_labels

__all__ = ["LABELS", "append_label", "latest_labels", "read_labels"]
