"""Render Quarto reports (``reports/*.qmd``): with ``quarto render`` where the CLI exists, else ourselves.

The package's own renderer executes the document's ``{python}`` cells in a real Jupyter kernel (nbclient)
and writes one self-contained HTML file per report: figures embedded, a table of contents, no network
needed to view it. It honours the Quarto cell options ``echo``, ``include``, ``output``, ``fig-cap`` and
``label``, and the ``parameters`` cell (``#| tags: [parameters]``), whose values ``-P name=value``
overrides. A failing cell stops rendering with the cell, its first source line and the error.
"""

from __future__ import annotations

import base64
import contextlib
import html
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "FORMATS",
    "Cell",
    "ReportError",
    "chromium",
    "expand_includes",
    "parse_qmd",
    "render_report",
    "render_reports",
    "to_docx",
    "to_pdf",
]

_FENCE = re.compile(r"^```\{python[^}]*\}\s*$")
_INCLUDE = re.compile(r"^\{\{<\s*include\s+(\S+)\s*>\}\}\s*$")
_OPTION = re.compile(r"^#\|\s*([\w-]+)\s*:\s*(.*)$")


class ReportError(RuntimeError):
    """A report could not be rendered: the cell, its first line and the error."""


@dataclass(frozen=True)
class Cell:
    """One block of a Quarto document: markdown, or python code with its ``#|`` options."""

    kind: str
    source: str
    options: dict[str, Any] = field(default_factory=dict)
    line: int = 0


def parse_qmd(text: str) -> tuple[dict[str, Any], list[Cell]]:
    """Split a Quarto document into its YAML front matter and its markdown and code cells.

    Examples
    --------
    >>> text = "---\\ntitle: T\\n---\\nHello\\n```{python}\\n#| echo: false\\nx = 1\\n```\\n"
    >>> meta, cells = parse_qmd(text)
    >>> meta["title"], [c.kind for c in cells], cells[1].options
    ('T', ['markdown', 'code'], {'echo': False})
    """
    import yaml

    lines = text.splitlines()
    meta: dict[str, Any] = {}
    start = 0
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
        if end is None:
            raise ReportError("The YAML front matter opened with '---' is never closed.")
        meta = yaml.safe_load("\n".join(lines[1:end])) or {}
        start = end + 1
    cells: list[Cell] = []
    buffer: list[str] = []
    i = start
    while i < len(lines):
        if _FENCE.match(lines[i].strip()):
            if "".join(buffer).strip():
                cells.append(Cell("markdown", "\n".join(buffer).strip("\n")))
            buffer = []
            first = i + 1
            j = first
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            if j == len(lines):
                raise ReportError(f"The code cell starting on line {i + 1} is never closed with ```.")
            body = lines[first:j]
            options: dict[str, Any] = {}
            while body and _OPTION.match(body[0]):
                key, value = _OPTION.match(body[0]).groups()
                options[key] = yaml.safe_load(value)
                body = body[1:]
            cells.append(Cell("code", "\n".join(body), options, line=first + 1))
            i = j + 1
            continue
        buffer.append(lines[i])
        i += 1
    if "".join(buffer).strip():
        cells.append(Cell("markdown", "\n".join(buffer).strip("\n")))
    return meta, cells


def expand_includes(text: str, folder: Path, *, depth: int = 0) -> str:
    """``text`` with each Quarto ``{{< include FILE >}}`` line replaced by FILE (relative to ``folder``).

    As Quarto does, the included file is pasted in before the document is read, and may include others.
    """
    if depth > 10:
        raise ReportError("Includes nest more than 10 deep (does a file include itself?).")
    lines = []
    for line in text.splitlines():
        match = _INCLUDE.match(line.strip())
        if match is None:
            lines.append(line)
            continue
        path = folder / match.group(1)
        if not path.is_file():
            raise ReportError(f"The included file {match.group(1)!r} is not in {folder}.")
        lines.append(expand_includes(path.read_text(), path.parent, depth=depth + 1))
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def _parameter_cell(cells: list[Cell], params: Mapping[str, Any]) -> list[Cell]:
    """Cells with an assignment of each parameter inserted after the ``parameters`` cell."""
    if not params:
        return cells
    index = next((k for k, c in enumerate(cells) if "parameters" in (c.options.get("tags") or [])), None)
    if index is None:
        raise ReportError("-P was given but the report has no cell tagged 'parameters'.")
    code = "\n".join(f"{name} = {value!r}" for name, value in params.items())
    injected = Cell("code", code, {"echo": False, "output": False}, line=cells[index].line)
    return [*cells[: index + 1], injected, *cells[index + 1 :]]


class _Kernel:
    """One Jupyter kernel, reused by the reports of one render (:func:`render_reports`).

    It talks over local IPC sockets in a private folder, not TCP ports: nothing is opened to the
    network, and jupyter_client has no reason to warn about unencrypted TCP. Each report starts in a
    cleared namespace (IPython's ``%reset -f``) with its own folder as the working directory, as in a
    kernel of its own; what stays is the imported modules and :func:`release_for_report`'s last
    release, which the next report of the same cohort, plans and threshold takes instead of building
    it again.
    """

    def __init__(self, timeout: int) -> None:
        import nbformat
        from jupyter_client import KernelManager
        from nbclient import NotebookClient

        self._stack = contextlib.ExitStack()
        sockets = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="itoutcomes-kernel-")))
        self.manager = KernelManager(kernel_name="python3", transport="ipc", ip=str(sockets / "kernel"))
        notebook = nbformat.v4.new_notebook()
        notebook.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        self.client = NotebookClient(notebook, timeout=timeout, km=self.manager)

    def __enter__(self) -> _Kernel:
        self._stack.callback(self._shut_down)
        self._stack.enter_context(self.client.setup_kernel())
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _shut_down(self) -> None:
        # the client does not own a kernel manager it was given: shut the kernel down here, or it
        # outlives the command and warns "Parent appears to have exited" when the command ends
        if self.manager.has_kernel:
            self.manager.shutdown_kernel(now=False)
        self.manager.cleanup_resources()

    def run(self, cells: list[Cell], cwd: Path, name: str) -> list[list[dict[str, Any]]]:
        """The outputs of each code cell of one report, run from a cleared namespace in ``cwd``."""
        import nbformat
        from nbclient.exceptions import CellExecutionError

        code_cells = [c for c in cells if c.kind == "code"]
        start = f"get_ipython().run_line_magic('reset', '-f')\nimport os\nos.chdir({str(cwd)!r})\ndel os"
        notebook = nbformat.v4.new_notebook()
        notebook.metadata = self.client.nb.metadata
        notebook.cells = [
            nbformat.v4.new_code_cell(start),
            *(nbformat.v4.new_code_cell(c.source) for c in code_cells),
        ]
        self.client.nb = notebook
        for index, cell in enumerate(notebook.cells):
            try:
                self.client.execute_cell(cell, index)
            except CellExecutionError as error:
                if index == 0:
                    raise ReportError(f"{name}: the kernel could not start the report: {error}") from None
                source = code_cells[index - 1]
                first = source.source.strip().splitlines()[0] if source.source.strip() else ""
                message = str(error).strip().splitlines()
                last = next((m for m in reversed(message) if m.strip()), "")
                raise ReportError(
                    f"{name}: the cell on line {source.line} ({first!r}) failed: {last}"
                ) from None
        return [cell.get("outputs", []) for cell in notebook.cells[1:]]


_RELEASE: dict[tuple[Any, ...], tuple[Any, Any]] = {}
""":func:`release_for_report`'s last release, by what it was built from (one entry at most)."""


def release_for_report(cohort_path: str | Path, plan_path: str | Path, threshold: int) -> tuple[Any, ...]:
    """What a report's set-up (``reports/_setup.qmd``) shows its numbers from: ``(cohort, plans, plan,
    view)``, with every plan beside ``plan_path`` read and checked, each given ``threshold``, and the
    whole release built from them as ``itoutcomes run`` builds it (:func:`itoutcomes.runner.build_release`).

    The reports of one render share one kernel (:func:`render_reports`), and each would build the
    same release: the last one is kept, keyed by the cohort files' SHA-256, the plans' text and the
    threshold, and returned again while those are unchanged. In a kernel of its own (``quarto
    render``) every report builds it.

    Parameters
    ----------
    cohort_path
        The cohort folder (:func:`itoutcomes.load_cohort`).
    plan_path
        The report's plan; every ``*.yaml`` beside it is part of the release.
    threshold
        The small-cell threshold each plan is given.

    Returns
    -------
    tuple
        ``cohort`` (the loaded cohort), ``plans`` (the checked plans, fresh dicts on every call),
        ``plan`` (the report's own, one of ``plans``) and ``view`` (the
        :class:`~itoutcomes.runner.ReleaseView`). The cohort and the view may be shared between
        calls: a report must not change them.
    """
    from itoutcomes import load_cohort
    from itoutcomes.runner import _hash_cohort, build_release, load_plan

    paths = sorted(Path(plan_path).parent.glob("*.yaml"))
    plans = [load_plan(p) for p in paths]
    for each in plans:
        each["threshold"] = threshold
    plan = plans[paths.index(Path(plan_path).parent / Path(plan_path).name)]  # read once, among them
    key = (_hash_cohort(Path(cohort_path)), tuple((p.name, p.read_text()) for p in paths), threshold)
    if key not in _RELEASE:
        _RELEASE.clear()
        cohort = load_cohort(cohort_path)
        _RELEASE[key] = (cohort, build_release(cohort, plans))
    cohort, view = _RELEASE[key]
    return cohort, plans, plan, view


def _output_html(outputs: list[dict[str, Any]], options: dict[str, Any], numbers: dict[str, int]) -> str:
    """A cell's outputs as HTML; figures and table captions numbered in order (``numbers`` counts them
    across the report)."""
    parts = []
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            parts.append(f"<pre class='stream'>{html.escape(output.get('text', ''))}</pre>")
        elif kind in ("execute_result", "display_data"):
            data = output.get("data", {})
            if "image/png" in data:
                caption = options.get("fig-cap")
                image = data["image/png"].replace("\n", "")
                alt = html.escape(str(caption or "figure"))
                figure = f"<img src='data:image/png;base64,{image}' alt='{alt}'/>"
                if caption:
                    numbers["figure"] += 1
                    figure += (
                        f"<figcaption>Figure {numbers['figure']}: {html.escape(str(caption))}</figcaption>"
                    )
                parts.append(f"<figure>{figure}</figure>")
            elif "text/html" in data:

                def number(match: re.Match[str]) -> str:
                    numbers["table"] += 1
                    return f"<caption>Table {numbers['table']}: "

                parts.append(f"<div class='output'>{re.sub('<caption>', number, data['text/html'])}</div>")
            elif "text/markdown" in data:
                import mistune

                parts.append(mistune.html(data["text/markdown"]))
            elif "text/plain" in data:
                parts.append(f"<pre class='output'>{html.escape(data['text/plain'])}</pre>")
    return "\n".join(parts)


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
line-height:1.5;color:#222}
nav{background:#f5f5f5;padding:.5rem 1rem;border-radius:4px}nav ul{margin:.2rem 0}
pre{background:#f7f7f7;padding:.6rem;overflow-x:auto}table{border-collapse:collapse;margin:.5rem 0}
td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}figure{margin:1rem 0}
img{max-width:100%}figcaption{font-size:.9rem;color:#555}
caption{caption-side:top;text-align:left;font-weight:600;padding:.3rem 0}
@media print{body{max-width:none;margin:0}nav{display:none}table{font-size:.75rem}
figure,table{break-inside:avoid}}
"""


def _page(meta: dict[str, Any], body: str) -> str:
    title = html.escape(str(meta.get("title", "Report")))
    headings = re.findall(r"<h([23]) id=\"([^\"]+)\">(.*?)</h\1>", body)
    toc = "".join(f"<li><a href='#{anchor}'>{text}</a></li>" for _, anchor, text in headings)
    nav = f"<nav><strong>Contents</strong><ul>{toc}</ul></nav>" if toc else ""
    subtitle = f"<p>{html.escape(str(meta['subtitle']))}</p>" if meta.get("subtitle") else ""
    return (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{title}</h1>{subtitle}{nav}\n{body}\n</body></html>\n"
    )


def _markdown(text: str) -> str:
    import mistune

    rendered = mistune.html(text)

    def anchor(match: re.Match[str]) -> str:
        level, inner = match.group(1), match.group(2)
        slug = re.sub(r"[^a-z0-9]+", "-", re.sub(r"<[^>]+>", "", inner).lower()).strip("-")
        return f'<h{level} id="{slug}">{inner}</h{level}>'

    return re.sub(r"<h([23])>(.*?)</h\1>", anchor, rendered)


def render_report(
    qmd: str | Path,
    out: str | Path,
    *,
    params: Mapping[str, Any] | None = None,
    timeout: int = 600,
    kernel: _Kernel | None = None,
) -> Path:
    """Execute one ``.qmd`` in a Jupyter kernel and write ``out/<name>.html``; returns its path.

    Cells run with the report's folder as the working directory, in a kernel of their own (or in
    ``kernel``, :func:`render_reports`' shared one, from a cleared namespace). Raises
    :class:`ReportError` naming the failing cell.
    """
    qmd = Path(qmd).resolve()
    meta, cells = parse_qmd(expand_includes(qmd.read_text(), qmd.parent))
    cells = _parameter_cell(cells, dict(params or {}))
    if kernel is None:
        with _Kernel(timeout) as own:
            produced = own.run(cells, qmd.parent, qmd.name)
    else:
        produced = kernel.run(cells, qmd.parent, qmd.name)
    outputs = iter(produced)
    body = []
    numbers = {"figure": 0, "table": 0}
    for cell in cells:
        if cell.kind == "markdown":
            body.append(_markdown(cell.source))
            continue
        produced = next(outputs)
        if cell.options.get("include") is False:
            continue
        label = cell.options.get("label")
        block = []
        if cell.options.get("echo", False):
            block.append(f"<pre class='code'><code>{html.escape(cell.source)}</code></pre>")
        if cell.options.get("output", True) is not False:
            block.append(_output_html(produced, cell.options, numbers))
        anchor = f" id='{html.escape(str(label))}'" if label else ""
        body.append(f"<section{anchor}>{''.join(block)}</section>")
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    page = target / f"{qmd.stem}.html"
    page.write_text(_page(meta, "\n".join(body)))
    return page


def render_reports(
    folder: str | Path,
    out: str | Path,
    *,
    params: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] = print,
    use_quarto: bool | None = None,
    formats: tuple[str, ...] = ("html",),
) -> list[Path]:
    """Render every ``.qmd`` of ``folder``, index first: with Quarto where installed, else ourselves.

    ``formats`` (of :data:`FORMATS`; HTML is always written) adds a ``.docx`` and a ``.pdf`` of each
    page beside it. ``progress`` gets one line per report. Returns the HTML pages.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ReportError(f"unknown format {', '.join(unknown)}: choose from {', '.join(FORMATS)}.")
    if "pdf" in formats:
        chromium()  # before rendering anything: say now that PDF cannot be made
    folder = Path(folder)
    documents = sorted(
        (p for p in folder.glob("*.qmd") if not p.name.startswith("_")),  # _*.qmd are includes, as in Quarto
        key=lambda p: (p.stem != "index", p.stem),
    )
    quarto = shutil.which("quarto") if use_quarto is not False else None
    pages = []
    with contextlib.ExitStack() as stack:
        kernel = None if quarto else stack.enter_context(_Kernel(timeout=600))
        for qmd in documents:
            pages.append(_render_one(qmd, out, params, quarto, kernel, formats, progress))
    return pages


def _render_one(
    qmd: Path,
    out: str | Path,
    params: Mapping[str, Any] | None,
    quarto: str | None,
    kernel: _Kernel | None,
    formats: tuple[str, ...],
    progress: Callable[[str], None],
) -> Path:
    """One report of :func:`render_reports`: its HTML page, then the other formats beside it."""
    started = time.perf_counter()
    if quarto:
        flags = [arg for k, v in (params or {}).items() for arg in ("-P", f"{k}:{v}")]
        subprocess.run(
            [quarto, "render", str(qmd), "--output-dir", str(Path(out).resolve()), *flags], check=True
        )
        page = Path(out) / f"{qmd.stem}.html"
    else:
        page = render_report(qmd, out, params=params, kernel=kernel)
    written = [page.name]
    if "docx" in formats:
        written.append(to_docx(page).name)
    if "pdf" in formats:
        written.append(to_pdf(page).name)
    shown = ", ".join(written)
    progress(f"rendered {qmd.name} -> {page.parent}/{shown} ({time.perf_counter() - started:.1f} s)")
    return page


FORMATS = ("html", "docx", "pdf")
"""What ``itoutcomes report --format`` writes: the self-contained HTML page, and from it a Word document
(pandoc, shipped as the ``pypandoc_binary`` wheel) and a PDF (printed by headless Chromium)."""

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # local files this package wrote; Chromium refuses to sandbox as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-pdf-header-footer",
)


def chromium() -> str:
    """The Chromium (or Chrome) executable: ``$ITOUTCOMES_CHROMIUM``, else the first on the path."""
    import os

    named = os.environ.get("ITOUTCOMES_CHROMIUM")
    found = named or next(
        (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None
    )
    if not found:
        raise ReportError(
            "PDF needs Chromium, which prints the HTML page: install it (apt-get install chromium) or "
            "set ITOUTCOMES_CHROMIUM to its path; or leave pdf out of --format."
        )
    return found


def to_docx(page: str | Path) -> Path:
    """The rendered HTML ``page`` as a Word document beside it (``.docx``): headings, tables with their
    numbered captions, figures with theirs (pandoc's HTML reader and DOCX writer)."""
    import pypandoc

    page = Path(page)
    target = page.with_suffix(".docx")
    pypandoc.convert_file(
        str(page),
        "docx",
        format="html",
        outputfile=str(target),
        extra_args=["--resource-path", str(page.parent)],
    )
    return target


def to_pdf(page: str | Path, *, timeout: int = 120) -> Path:
    """The rendered HTML ``page`` printed to PDF beside it by headless Chromium (A4 or Letter as the
    browser's locale says; the page's print style hides the contents box and keeps figures and tables
    whole)."""
    page = Path(page).resolve()
    target = page.with_suffix(".pdf")
    with tempfile.TemporaryDirectory(prefix="itoutcomes-chromium-") as profile:
        done = subprocess.run(
            [
                chromium(),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--print-to-pdf={target}",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    if done.returncode != 0 or not target.exists():
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise ReportError(f"{page.name}: Chromium could not print it to PDF ({last}).")
    return target


def embedded_images(page: str | Path) -> list[bytes]:
    """The PNG images embedded in a rendered page (for checks)."""
    text = Path(page).read_text()
    return [base64.b64decode(m) for m in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)]
