"""The README's examples run: the Python one prints what its comments say, and the
command-line one trains, tests and predicts on LIBSVM files."""
import contextlib
import io
import re
import shlex
import subprocess
import sys
from pathlib import Path

from sklearn.datasets import dump_svmlight_file

from _helpers import child_env

from hogwild.datasets import make_sparse_classification

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs_and_prints_what_it_says():
    text = README.read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {})
    printed = out.getvalue().splitlines()
    promised = re.findall(r"# (\[.*\])$", code, re.M)
    assert promised and printed[0] == promised[0]


def test_readme_command_line_example_runs(tmp_path):
    block = re.search(r"## Command line\n\n```console\n(.*?)```", README.read_text(), re.S)
    commands = [shlex.split(line[2:]) for line in block.group(1).splitlines()]
    assert [c[:2] for c in commands] == [["hogwild", "train"], ["hogwild", "predict"]]
    X, y = make_sparse_classification(1500, 200, 0.05, random_state=0)
    dump_svmlight_file(X[:1000], y[:1000], str(tmp_path / "train.svm"))
    dump_svmlight_file(X[1000:1300], y[1000:1300], str(tmp_path / "test.svm"))
    dump_svmlight_file(X[1300:], y[1300:], str(tmp_path / "new.svm"))
    train, predict = [subprocess.run([sys.executable, "-m", "hogwild", *argv[1:]], cwd=tmp_path,
                                     env=child_env(), capture_output=True, text=True,
                                     timeout=120)
                      for argv in commands]
    assert train.returncode == 0, train.stderr
    assert "loss=log_loss, 5 epochs" in train.stdout and "test accuracy" in train.stdout
    assert predict.returncode == 0, predict.stderr
    predictions = (tmp_path / "predictions.txt").read_text().split()
    assert len(predictions) == 200 and set(predictions) <= {"0", "1"}


def test_readme_matrix_factorization_example_prints_what_it_says():
    text = README.read_text()
    code = re.search(r"## Matrix factorization\n\n```python\n(.*?)```", text, re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        namespace = {}
        exec(compile(code, str(README), "exec"), namespace)
    promised = float(re.search(r"# (\d\.\d+)$", code, re.M).group(1))
    assert abs(float(out.getvalue().split()[0]) - promised) <= 0.02
    items = namespace["items"]
    rated = set(namespace["X_train"][namespace["X_train"][:, 0] == 0, 1].tolist())
    assert items.shape == (2, 5) and not rated & set(items[0].tolist())
