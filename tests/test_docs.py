"""The documentation builds without warnings, and its examples do what they show.

The ```python and ```console blocks of each page in docs/ run in the order of
the page, in an empty folder: a python block is a doctest (``>>>``) or a
script, all of a page's blocks in one namespace; a console block runs its
``$ hogwild ...`` commands (with ``main``, in this process) and compares their
output, stdout and stderr together, ``...`` matching anything as in doctests.
"""
import contextlib
import doctest
import json
import io
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from _helpers import child_env, needs_openmp

from hogwild._cli import main

DOCS = Path(__file__).resolve().parents[1] / "docs"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
# fenced blocks, also indented ones (inside list items)
BLOCK = re.compile(r"^([ \t]*)```(python|console)\n(.*?)^\1```", re.S | re.M)
# the pages whose examples must run, and so must have some
PAGES_WITH_EXAMPLES = ["index.md", "getting-started.md", "user-guide.md",
                       "matrix-factorization.md", "cli.md", "scaling-out.md"]
PAGES = ["index", "getting-started", "user-guide", "matrix-factorization", "cli", "scaling-out",
         "api", "benchmarks", "design"]


def blocks(page):
    """(kind, code, line number) of each python / console block of a page."""
    text = (DOCS / page).read_text()
    return [(m[2], textwrap.dedent(m[3]), text.count("\n", 0, m.start()) + 2)
            for m in BLOCK.finditer(text)]


def run_python(page, code, line, namespace):
    """Run one block: a doctest when it starts with >>>, else a script."""
    if not code.lstrip().startswith(">>>"):
        exec(compile(code, f"{page}:{line}", "exec"), namespace)
        return 0
    test = doctest.DocTestParser().get_doctest(code, namespace, f"{page}:{line}", page, line)
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    result = runner.run(test, out=out.write, clear_globs=False)
    namespace.update(test.globs)  # the DocTest ran on a copy
    assert result.failed == 0, out.getvalue()
    return result.attempted


def run_console(page, code, line):
    """Run each ``$ hogwild ...`` line of a console block and check its output."""
    checker = doctest.OutputChecker()
    sessions = re.split(r"^\$ ", code, flags=re.M)[1:]
    assert sessions, f"{page}:{line}: a console block without a $ command"
    for session in sessions:
        command, _, want = session.partition("\n")
        argv = shlex.split(command)
        assert argv[0] == "hogwild", f"{page}:{line}: only hogwild commands run here"
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                main(argv[1:])
            except SystemExit:  # --help, --version
                pass
        got = out.getvalue()
        assert checker.check_output(want, got, FLAGS), (
            f"{page}:{line}: $ {command}\nexpected:\n{want}\ngot:\n{got}")


# the user guide shows what two threads train, which a serial build cannot
THREADED_PAGES = {"user-guide.md"}


@pytest.mark.parametrize("page", [
    pytest.param(p, marks=needs_openmp) if p in THREADED_PAGES else p
    for p in sorted(p.name for p in DOCS.glob("*.md"))])
def test_page_examples_run_and_print_what_they_show(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")  # argparse wraps --help at the terminal's width
    namespace = {"__name__": "__main__"}
    attempted = 0
    for kind, code, line in blocks(page):
        if kind == "python":
            attempted += run_python(page, code, line, namespace) or 1
        else:
            run_console(page, code, line)
            attempted += 1
    assert (attempted > 0) == (page in PAGES_WITH_EXAMPLES), (page, attempted)


def test_sphinx_builds_every_page_without_warnings(tmp_path):
    html = tmp_path / "html"
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(html)],
        # autodoc documents the hogwild this test imports
        cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr  # -W --keep-going: any warning fails
    for page in PAGES:
        assert (html / f"{page}.html").is_file(), page
    api = (html / "api.html").read_text()
    for name in ("HogwildClassifier", "HogwildRegressor", "partial_fit", "predict_proba",
                 "show_config", "make_sparse_classification", "learning_rate",
                 "DaskHogwildClassifier", "read_svmlight_files", "to_local"):
        assert name in api, name
    bench = (html / "benchmarks.html").read_text()
    for plot in ("objective_vs_time", "speedup_vs_threads"):
        assert re.search(rf'<img [^>]*src="_images/{plot}[^"]*\.png"', bench), plot
    # the page names the machine its figures were measured on, as results.json records it
    machine = json.loads((DOCS / "bench" / "default" / "results.json").read_text())["machine"]
    assert "scikit-learn SGD" in bench and f"{machine['cpu_count']} vCPUs" in bench
    for plot in ("rmse_vs_time", "updates_vs_threads"):  # bench mf: generated, MovieLens
        assert len(re.findall(rf'<img [^>]*src="_images/{plot}[^"]*\.png"', bench)) == 2, plot
    # benchmarks: 2 plots of the default run, 2 of news20, 4 of bench mf; scaling out: 4
    assert len(list((html / "_images").glob("*.png"))) == 12
    scaling = (html / "scaling-out.html").read_text()
    for plot in ("convergence", "straggler", "transient", "round_cost"):
        assert re.search(rf'<img [^>]*src="_images/{plot}[^"]*\.png"', scaling), plot
    for page in PAGES:  # every page lists every page in its left sidebar
        text = (html / f"{page}.html").read_text()
        sidebar = text[text.index('aria-label="Pages"'):]
        sidebar = sidebar[:sidebar.index("</nav>")]
        for other in PAGES[1:]:  # the pages under the index, the current one as "#"
            assert (f'href="{other}.html"' in sidebar
                    or (other == page and 'href="#"' in sidebar)), (page, other)
        # long code lines wrap instead of running past the content column
        assert "_static/hogwild.css" in text, page
    assert "pre-wrap" in (html / "_static" / "hogwild.css").read_text()
    cli = (html / "cli.html").read_text()
    assert "hogwild train" in cli and "hogwild predict" in cli and "hogwild bench" in cli
