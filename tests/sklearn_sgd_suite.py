"""Run scikit-learn's own SGD tests with hogwild's estimators in place of its own.

``python tests/sklearn_sgd_suite.py [--n-jobs 1|default] [pytest args]`` runs
the installed scikit-learn's ``linear_model/tests/test_sgd.py`` with
``sklearn.linear_model.SGDClassifier`` and ``SGDRegressor`` replaced by
:class:`~hogwild.HogwildClassifier` and :class:`~hogwild.HogwildRegressor`
(``n_jobs`` defaulting to the value given; ``default`` keeps hogwild's
all-cores default), then prints the outcomes of the tests that build one of
them. Tests of ``SGDOneClassSVM`` and of scikit-learn's private internals
run too, with scikit-learn's classes where they are not replaced.

pytest does not collect this file (its name does not start with ``test_``);
``tests/test_sklearn_compat.py`` runs it and holds its failures to the list in
docs/user-guide.md, "Differences from scikit-learn's SGD".
"""
import os
import sys
import types


def _with_n_jobs(cls, n_jobs):
    """A subclass of ``cls`` whose ``n_jobs`` defaults to ``n_jobs`` (get_params sees it)."""
    init = cls.__init__
    new_init = types.FunctionType(init.__code__, init.__globals__, init.__name__,
                                  init.__defaults__, init.__closure__)
    new_init.__kwdefaults__ = {**init.__kwdefaults__, "n_jobs": n_jobs}
    new_init.__qualname__ = init.__qualname__
    # a module-level name here, so that pickle finds the class
    subclass = type(cls.__name__, (cls,), {"__init__": new_init, "__module__": __name__})
    globals()[cls.__name__] = subclass
    return subclass


def _install(n_jobs):
    """Put ours in scikit-learn's place, counting every estimator built."""
    import sklearn.linear_model as linear_model

    from hogwild import HogwildClassifier, HogwildRegressor
    from hogwild.linear_model._base import BaseHogwild
    linear_model.SGDClassifier = _with_n_jobs(HogwildClassifier, n_jobs)
    linear_model.SGDRegressor = _with_n_jobs(HogwildRegressor, n_jobs)
    BaseHogwild._instances = 0
    original_new = BaseHogwild.__new__

    def counting_new(klass, *args, **kwargs):
        BaseHogwild._instances += 1
        if original_new is object.__new__:
            return object.__new__(klass)
        return original_new(klass, *args, **kwargs)

    BaseHogwild.__new__ = counting_new


class _Tally:
    """A pytest plugin that records each test's outcome and whether it built ours."""

    def __init__(self):
        self.outcomes = {}  # nodeid -> outcome
        self.ours = set()  # nodeids of tests that built a hogwild estimator

    def pytest_runtest_setup(self, item):
        from hogwild.linear_model._base import BaseHogwild
        self._count_before = BaseHogwild._instances

    def pytest_runtest_logreport(self, report):
        from hogwild.linear_model._base import BaseHogwild
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            self.outcomes[report.nodeid] = report.outcome
            # every test of the file passes with scikit-learn's classes, so a
            # failure is ours too (some fail before building an estimator)
            if BaseHogwild._instances != self._count_before or report.outcome != "passed":
                self.ours.add(report.nodeid)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    n_jobs = "1"
    if "--n-jobs" in argv:
        at = argv.index("--n-jobs")
        n_jobs = argv[at + 1]
        del argv[at:at + 2]
    import pytest
    import sklearn
    # before the test module is imported: it subclasses linear_model.SGDClassifier
    _install(None if n_jobs == "default" else int(n_jobs))
    path = os.path.join(os.path.dirname(sklearn.__file__), "linear_model", "tests",
                        "test_sgd.py")
    tally = _Tally()
    code = pytest.main([path, "-q", "-p", "no:cacheprovider", "-W", "ignore",
                        "--rootdir", os.path.dirname(sklearn.__file__), *argv],
                       plugins=[tally])
    ours = {k: v for k, v in tally.outcomes.items() if k in tally.ours}
    failed = sorted(k for k, v in ours.items() if v == "failed")
    passed = sum(v == "passed" for v in tally.outcomes.values())
    print(f"\nn_jobs={n_jobs}: {passed} of the {len(tally.outcomes)} tests pass; "
          f"{len(ours)} of them build a hogwild estimator, of which {len(failed)} fail")
    for nodeid in failed:
        print(f"  failed: {nodeid.split('::', 1)[-1]}")
    return code


if __name__ == "__main__":
    sys.exit(main())
