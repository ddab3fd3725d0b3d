"""``hogwild train`` / ``hogwild predict`` / ``--version`` / ``--help``.

The commands run in a subprocess, as a user runs them; the variations of one
behaviour (each kind of malformed line, each option's help) run ``main`` in
this process, which saves a second of imports each. Errors a user can make
end with one line on stderr and a non-zero status.
"""
import pickle
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from _helpers import child_env
from sklearn.datasets import dump_svmlight_file

import hogwild
from hogwild import HogwildClassifier, HogwildRegressor, _cli
from hogwild._cli import find_bad_line, format_value, load_data, load_model, train_epochs
from hogwild.datasets import make_sparse_classification, make_sparse_regression

def run_cli(args, cwd):
    """``python -m hogwild ARGS`` in ``cwd``, importing the hogwild this test imports."""
    env = {**child_env(), "OMP_NUM_THREADS": "2"}
    return subprocess.run([sys.executable, "-m", "hogwild", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def one_line_error(proc, *fragments):
    """The process failed with exactly one line on stderr holding every fragment."""
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Binary, 3-class and regression train/test files, zero-based as sklearn writes them."""
    folder = tmp_path_factory.mktemp("cli")
    X, y = make_sparse_classification(1000, 300, 0.05, random_state=0)
    dump_svmlight_file(X[:800], y[:800], str(folder / "train.svm"))
    dump_svmlight_file(X[800:], y[800:], str(folder / "test.svm"))
    X, y = make_sparse_classification(900, 200, 0.05, n_classes=3, random_state=1)
    dump_svmlight_file(X, y + 1, str(folder / "three.svm"))
    X, y = make_sparse_regression(1000, 300, 0.05, random_state=0)
    dump_svmlight_file(X[:800], y[:800], str(folder / "reg.svm"))
    dump_svmlight_file(X[800:], y[800:], str(folder / "reg-test.svm"))
    return folder


@pytest.fixture(scope="module")
def trained(files):
    proc = run_cli(["train", "train.svm", "-o", "model.pkl", "--test", "test.svm",
                    "--epochs", "4", "--seed", "0", "--threads", "1"], files)
    return proc, files


def test_train_prints_epochs_and_test_accuracy_and_saves(trained):
    proc, folder = trained
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"hogwild {hogwild.__version__} train: train.svm, 800 x 300, ")
    assert "2 classes; loss=hinge, 4 epochs, 1 thread" in lines[0]
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/4", "2/4", "3/4", "4/4"]
    losses = [float(line.split()[3]) for line in epochs]
    elapsed = [float(line.split()[5]) for line in epochs]
    assert all(np.isfinite(losses)) and min(losses) >= 0
    assert elapsed == sorted(elapsed)
    accuracy = float(lines[-2].split()[2])
    assert lines[-2].startswith("test accuracy ") and "on test.svm (200 rows)" in lines[-2]
    # better than chance (0.5 +- 0.035 on 200 balanced rows); this noisy
    # problem tops out near 0.69, and 4 epochs give 0.59-0.69 over seeds
    assert 0.57 < accuracy <= 1.0
    assert lines[-1] == "saved model.pkl"
    assert proc.stderr == ""

    model, header = load_model(str(folder / "model.pkl"))
    assert isinstance(model, HogwildClassifier)
    assert header["hogwild"] == hogwild.__version__ and header["zero_based"] is True
    assert model.n_features_in_ == 300 and model.n_iter_ == 1 and model.t_ == 1 + 4 * 800
    assert model.get_params()["random_state"] == 0 and model.n_jobs == 1
    # the reported loss is the saved model's
    X, y, _ = load_data(str(folder / "train.svm"))
    scores = model.decision_function(X)
    assert np.mean(np.maximum(0, 1 - np.where(y == 1, 1, -1) * scores)) == pytest.approx(
        losses[-1], abs=1e-6)
    X_test, y_test, _ = load_data(str(folder / "test.svm"), n_features=300)
    assert model.score(X_test, y_test) == pytest.approx(accuracy, abs=1e-4)


def test_same_seed_and_one_thread_train_the_same_model(trained):
    proc, folder = trained
    again = run_cli(["train", "train.svm", "-o", "again.pkl", "--epochs", "4", "--seed", "0",
                     "--threads", "1"], folder)
    assert again.returncode == 0, again.stderr
    first, _ = load_model(str(folder / "model.pkl"))
    second, _ = load_model(str(folder / "again.pkl"))
    np.testing.assert_array_equal(first.coef_, second.coef_)
    np.testing.assert_array_equal(first.intercept_, second.intercept_)


def test_predict_writes_one_label_per_line(trained):
    _, folder = trained
    model, _ = load_model(str(folder / "model.pkl"))
    X_test, _, _ = load_data(str(folder / "test.svm"), n_features=300)
    expected = [str(int(v)) for v in model.predict(X_test)]

    proc = run_cli(["predict", "model.pkl", "test.svm"], folder)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == expected and proc.stderr == ""

    proc = run_cli(["predict", "model.pkl", "test.svm", "-o", "predictions.txt"], folder)
    assert proc.returncode == 0, proc.stderr
    assert (folder / "predictions.txt").read_text().splitlines() == expected
    assert proc.stdout == "wrote 200 predictions to predictions.txt\n"


def test_multiclass_labels_as_in_the_file(files):
    proc = run_cli(["train", "three.svm", "-o", "three.pkl", "--loss", "log_loss",
                    "--epochs", "3", "--test", "three.svm"], files)
    assert proc.returncode == 0, proc.stderr
    assert "3 classes; loss=log_loss" in proc.stdout
    assert float(proc.stdout.splitlines()[-2].split()[2]) > 0.5
    proc = run_cli(["predict", "three.pkl", "three.svm"], files)
    assert proc.returncode == 0, proc.stderr
    assert set(proc.stdout.split()) <= {"1", "2", "3"} and len(proc.stdout.split()) == 900


def test_regression_reports_r2_and_predicts_values(files):
    proc = run_cli(["train", "reg.svm", "-o", "reg.pkl", "--loss", "squared_error",
                    "--learning-rate", "backoff", "--eta0", "0.5", "--epochs", "5",
                    "--test", "reg-test.svm", "--float32"], files)
    assert proc.returncode == 0, proc.stderr
    assert "regression; loss=squared_error" in proc.stdout
    line = proc.stdout.splitlines()[-2]
    assert line.startswith("test R^2 ") and float(line.split()[2]) > 0.5
    model, _ = load_model(str(files / "reg.pkl"))
    assert isinstance(model, HogwildRegressor) and model.coef_.dtype == np.float32
    assert model.learning_rate == "backoff" and model.eta0 == 0.5
    proc = run_cli(["predict", "reg.pkl", "reg-test.svm"], files)
    X_test, _, _ = load_data(str(files / "reg-test.svm"), n_features=300)
    np.testing.assert_allclose([float(v) for v in proc.stdout.split()], model.predict(X_test))


def test_one_based_files_are_read_as_libsvm_numbers_them(tmp_path, run_main):
    (tmp_path / "one.svm").write_text("1 1:1 3:0.5\n-1 2:1\n1 1:0.8\n-1 2:0.9 3:0.1\n")
    (tmp_path / "zero.svm").write_text("1 0:1\n")
    (tmp_path / "wide.svm").write_text("1 4:1\n")
    proc = run_cli(["train", "one.svm", "-o", "one.pkl", "--epochs", "2"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "one.svm, 4 x 3, 6 non-zeros" in proc.stdout  # indices 1..3, three columns
    assert run_cli(["predict", "one.pkl", "one.svm"], tmp_path).stdout.split() == [
        "1", "-1", "1", "-1"]
    one_line_error(run_main(["predict", "one.pkl", "zero.svm"], tmp_path),
                   "zero.svm, line 1: feature index 0, but the features are numbered from 1")
    one_line_error(run_main(["predict", "one.pkl", "wide.svm"], tmp_path),
                   "wide.svm has feature index 4, but the model has 3 features (indices 1 to 3)")


@pytest.mark.parametrize("content, line, problem", [
    ("1 1:0.5 3:1\n# a comment\n-1 2:1 x:3\n", 3, "feature index 'x' is not an integer"),
    ("1 1:0.5 3:1\n\n-1 4:1 2:3\n", 3, "feature index 2 after 4: indices must increase"),
    ("1 1:0.5\nspam 4:1\n", 2, "label 'spam' is not a finite number"),
    ("1 1:0.5 3:nan\n", 1, "value 'nan' of feature 3 is not a finite number"),
    ("1 1:0.5 3\n", 1, "'3' is not INDEX:VALUE"),
    ("1 1:2\n-1 -4:1\n", 2, "feature index -4 is out of range"),
])
def test_a_malformed_line_is_named_by_its_number(tmp_path, run_main, content, line, problem):
    (tmp_path / "bad.svm").write_text(content)
    message = one_line_error(run_main(["train", "bad.svm", "-o", "m.pkl"], tmp_path))
    assert message == f"hogwild train: error: bad.svm, line {line}: {problem}"
    assert not (tmp_path / "m.pkl").exists()


def test_a_malformed_line_in_a_subprocess(tmp_path):
    (tmp_path / "bad.svm").write_text("1 1:0.5\n-1 2:1 2:3\n")
    message = one_line_error(run_cli(["train", "bad.svm", "-o", "m.pkl"], tmp_path))
    assert message == ("hogwild train: error: bad.svm, line 2: feature index 2 after 2: "
                       "indices must increase")


def test_find_bad_line_reads_compressed_files_and_passes_good_ones(tmp_path):
    import gzip
    path = tmp_path / "data.svm.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"1 qid:3 1:0.5 # fine\n\n-1 2:1\n1 2:1 2:1\n")
    assert find_bad_line(str(path), zero_based=False) == (
        4, "feature index 2 after 2: indices must increase")
    with gzip.open(path, "wb") as f:
        f.write(b"1 0:0.5\n-1 7:1e3\n")
    assert find_bad_line(str(path), zero_based=True) is None
    assert find_bad_line(str(path), zero_based=False)[0] == 1


@pytest.mark.parametrize("args, fragments", [
    (["predict", "missing.pkl", "test.svm"], ["cannot read missing.pkl: No such file"]),
    (["predict", "model.pkl", "missing.svm"], ["cannot read missing.svm: No such file"]),
    (["train", "train.svm", "-o", "no/such/folder/m.pkl"], ["no folder no/such/folder"]),
    (["train", "train.svm", "-o", "m.pkl", "--alpha", "0"], ["alpha must be > 0"]),
    (["predict", "test.svm", "test.svm"], ["test.svm is not a hogwild model"]),
])
def test_user_errors_are_one_line(trained, run_main, args, fragments):
    _, folder = trained
    message = one_line_error(run_main(args, folder), *fragments)
    assert message.startswith(f"hogwild {args[0]}: error: ")


def test_a_missing_file_in_a_subprocess(tmp_path):
    message = one_line_error(run_cli(["train", "missing.svm", "-o", "m.pkl"], tmp_path))
    assert message == "hogwild train: error: cannot read missing.svm: No such file or directory"


def test_a_model_of_another_version_is_refused(trained, run_main):
    _, folder = trained
    with open(folder / "model.pkl", "rb") as f:
        header, estimator = pickle.load(f), pickle.load(f)
    with open(folder / "old.pkl", "wb") as f:
        pickle.dump({**header, "hogwild": "0.0.1"}, f)
        f.write(b"\x80 not an estimator pickle")  # never read: the header refuses first
    message = one_line_error(run_cli(["predict", "old.pkl", "test.svm"], folder))
    assert message == ("hogwild predict: error: old.pkl was saved by hogwild 0.0.1, which "
                       f"this hogwild ({hogwild.__version__}) cannot read: train the model "
                       "again with this version")
    with open(folder / "plain.pkl", "wb") as f:
        pickle.dump(estimator, f)  # a bare estimator: no header
    one_line_error(run_main(["predict", "plain.pkl", "test.svm"], folder),
                   "plain.pkl is not a hogwild model")


def test_more_features_than_the_model_is_a_one_line_error(trained, run_main):
    _, folder = trained
    X, y = make_sparse_classification(50, 320, 0.05, random_state=0)
    dump_svmlight_file(X, y, str(folder / "wide.svm"))
    for run, args in ((run_cli, ["predict", "model.pkl", "wide.svm"]),
                      (run_main, ["train", "train.svm", "-o", "m.pkl", "--test", "wide.svm"])):
        one_line_error(run(args, folder), "wide.svm has feature index 31",
                       "but the model has 300 features (indices 0 to 299)",
                       "train with --n-features N")
    # fewer features than the model: columns added, the same predictions
    X_narrow, _, _ = load_data(str(folder / "test.svm"), n_features=300)
    dump_svmlight_file(X_narrow[:, :250], np.zeros(200), str(folder / "narrow.svm"))
    X_padded, _, _ = load_data(str(folder / "narrow.svm"), n_features=300)
    assert X_padded.shape == (200, 300) and X_padded[:, 250:].nnz == 0
    np.testing.assert_array_equal(X_padded[:, :250].toarray(), X_narrow[:, :250].toarray())


def test_version_and_help(tmp_path, run_main):
    proc = run_cli(["--version"], tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"hogwild {hogwild.__version__}"
    proc = run_cli(["--help"], tmp_path)
    assert proc.returncode == 0
    for command in ("train", "predict", "bench"):
        assert command in proc.stdout
    for command, options in [("train", ["-o MODEL", "--test FILE", "--loss", "--penalty",
                                        "--alpha", "--epochs", "--threads", "partial_fit",
                                        "fit(max_iter=EPOCHS, tol=None)"]),
                             ("predict", ["MODEL DATA", "-o PREDICTIONS"]),
                             ("bench", ["--data FILE", "--out DIR"])]:
        proc = run_main([command, "--help"], tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(f"usage: hogwild {command} ")
        for option in options:
            assert option in proc.stdout
    proc = run_main(["train"], tmp_path)
    assert proc.returncode == 2 and "required: DATA, -o/--output" in proc.stderr


@pytest.mark.parametrize("penalty", ["l2", None])
def test_epochs_of_partial_fit_are_fit_with_max_iter(penalty):
    """What train's --help promises: fit's updates, epoch after epoch (same row order)."""
    X, y = make_sparse_classification(600, 100, 0.05, n_classes=3, random_state=0)
    params = dict(penalty=penalty, n_jobs=1, shuffle=False, learning_rate="backoff", eta0=0.3)
    reported = []
    looped = train_epochs(HogwildClassifier(**params), X, y, 5,
                          report=lambda epoch, loss: reported.append((epoch, loss)))
    fitted = HogwildClassifier(max_iter=5, tol=None, **params).fit(X, y)
    np.testing.assert_array_equal(looped.coef_, fitted.coef_)
    np.testing.assert_array_equal(looped.intercept_, fitted.intercept_)
    assert looped.t_ == fitted.t_ and [e for e, _ in reported] == [1, 2, 3, 4, 5]


def test_format_value():
    assert [format_value(v) for v in np.array([1.0, -1.0, 0.25, 3e20])] == [
        "1", "-1", "0.25", "300000000000000000000"]
    assert format_value(np.float32(0.1)) == "0.1"


def test_progress_is_a_tqdm_bar_on_a_terminal_when_tqdm_is_installed(monkeypatch, capsys):
    from hogwild import _cli
    bars = []

    class FakeTqdm:  # records what hogwild asks of tqdm
        def __init__(self, total, unit, file):
            self.total, self.unit = total, unit
            self.updates, self.postfix, self.closed = 0, [], False
            bars.append(self)

        def set_postfix(self, refresh, **values):
            self.postfix.append(values)

        def update(self, n):
            self.updates += n

        def close(self):
            self.closed = True

    monkeypatch.setitem(sys.modules, "tqdm", SimpleNamespace(tqdm=FakeTqdm))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    report = _cli._progress(3)
    for epoch, loss in enumerate([0.5, 0.25, 0.125], start=1):
        report(epoch, loss)
    (bar,) = bars
    assert (bar.total, bar.unit, bar.updates, bar.closed) == (3, "epoch", 3, True)
    assert bar.postfix == [{"loss": "0.5"}, {"loss": "0.25"}, {"loss": "0.125"}]
    assert capsys.readouterr().out == ""  # the bar replaces the lines

    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)  # a log file: lines
    _cli._progress(3)(1, 0.5)
    assert capsys.readouterr().out.startswith("epoch 1/3  loss 0.500000  elapsed ")


def test_an_empty_file_says_it_is_empty(tmp_path, run_main):
    (tmp_path / "empty.svm").write_text("")
    (tmp_path / "blank.svm").write_text("\n# only a comment\n\n")
    one_line_error(run_main(["train", "empty.svm", "-o", "m.pkl"], tmp_path),
                   "empty.svm is empty: it has no data lines")
    one_line_error(run_main(["train", "blank.svm", "-o", "m.pkl"], tmp_path),
                   "blank.svm is empty", "only blank or comment lines")
    assert not (tmp_path / "m.pkl").exists()


def test_an_output_that_cannot_be_written_is_refused_before_reading(tmp_path, run_main,
                                                                     monkeypatch):
    # the data file does not even exist: the output is checked first
    (tmp_path / "a-folder").mkdir()
    one_line_error(run_main(["train", "missing.svm", "-o", "a-folder"], tmp_path),
                   "cannot write a-folder: it is a folder")
    one_line_error(run_main(["predict", "missing.pkl", "missing.svm", "-o", "a-folder"],
                            tmp_path), "cannot write a-folder: it is a folder")
    # a name no file system takes (root too): refused before the data is read
    reads = []
    monkeypatch.setattr(_cli, "load_svmlight_file", lambda *a, **k: reads.append(a))
    long_name = "m" * 300 + ".pkl"
    one_line_error(run_main(["train", "x.svm", "-o", long_name], tmp_path),
                   f"cannot write {long_name}: File name too long")
    assert reads == []


def test_a_file_that_can_be_written_is_left_as_it_was_by_the_check(tmp_path):
    (tmp_path / "m.pkl").write_bytes(b"an older model")
    _cli._check_writable(str(tmp_path / "m.pkl"))
    assert (tmp_path / "m.pkl").read_bytes() == b"an older model"
    _cli._check_writable(str(tmp_path / "new.pkl"))
    assert not (tmp_path / "new.pkl").exists()


def test_ctrl_c_while_reading_is_one_line_and_status_130(files, run_main, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli, "load_svmlight_file", interrupted)
    proc = run_main(["train", "train.svm", "-o", "never.pkl"], files)
    assert proc.returncode == 130
    assert proc.stderr.strip() == "hogwild train: interrupted"
    assert not (files / "never.pkl").exists()


def test_more_threads_than_cpus_warns_once(files, run_main):
    from hogwild._threads import resolve_n_jobs
    many = resolve_n_jobs(None) + 3
    proc = run_main(["train", "train.svm", "-o", "many.pkl", "--epochs", "1",
                     "--threads", str(many)], files)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert warnings == [f"hogwild train: warning: --threads {many} is more than the "
                        f"{resolve_n_jobs(None)} CPU{'s' * (resolve_n_jobs(None) > 1)} this "
                        "process may use; threads will share CPUs and train slower"]
    proc = run_main(["train", "train.svm", "-o", "few.pkl", "--epochs", "1", "--threads", "1"],
                    files)
    assert proc.returncode == 0 and "warning" not in proc.stderr


@pytest.mark.parametrize("suffix", [".svm", ".svm.gz", ".svm.bz2"])
def test_a_large_file_shows_how_much_is_read_on_a_terminal(tmp_path, monkeypatch, capsys,
                                                         suffix):
    import time

    X, y = make_sparse_classification(300, 40, 0.1, random_state=0)
    plain = tmp_path / "data.svm"
    dump_svmlight_file(X, y, str(plain))
    path = tmp_path / f"data{suffix}"
    if suffix != ".svm":
        import bz2
        import gzip
        opener = gzip.open if suffix.endswith(".gz") else bz2.open
        with opener(path, "wb") as f:
            f.write(plain.read_bytes())
    expected, y_expected, _ = load_data(str(plain))
    capsys.readouterr()
    real = _cli.load_svmlight_file

    def slow(*args, **kwargs):  # a reader that takes a while, as a large file does
        result = real(*args, **kwargs)
        time.sleep(0.8)
        return result

    monkeypatch.setattr(_cli, "_on_terminal", lambda: True)
    monkeypatch.setattr(_cli, "PROGRESS_BYTES", 0)
    monkeypatch.setattr(_cli, "load_svmlight_file", slow)
    X_read, y_read, _ = load_data(str(path))
    assert (X_read != expected).nnz == 0 and np.array_equal(y_read, y_expected)
    err = capsys.readouterr().err
    assert f"reading {path}: 100% of" in err  # the whole file was read...
    assert err.rstrip().endswith(f"reading {path}: done")  # ...and the line ends
