"""MatrixFactorization against scikit-learn's estimator checks.

scikit-learn's checks make their own data: feature matrices of any width and
real values. A factorization's X is (user, item) ids, two integer columns,
so the checks that fit such matrices cannot apply as written; each is listed
with its reason, and the contract it checks is tested below on ratings
(``test_contract_*``, named after the checks). The others run as they are.
"""
import pickle
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import DataConversionWarning, NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from hogwild import MatrixFactorization
from hogwild.datasets import make_ratings

IDS = "X is (user, item) ids, two integer columns; the check fits a real-valued matrix of " \
      "another width (the contract is tested on ratings here: test_contract_*)"
NOT_APPLICABLE = {
    "check_fit2d_1feature": "X is always two columns (user, item); the check wants a "
                            "message about one feature",
    "check_fit2d_1sample": IDS,
    "check_estimators_empty_data_messages": "X is always two columns; empty input is "
                                            "refused with its own message "
                                            "(test_contract_bad_input)",
    "check_estimator_sparse_tag": "a sparse X is a users x items ratings matrix with y=None; "
                                  "the check passes a feature matrix and a y",
    "check_regressors_train": "fits a regression problem on real features: a factorization "
                              "has none (what it learns: tests/test_mf.py)",
}
IDS_CHECKS = [
    "check_fit_score_takes_y", "check_estimators_overwrite_params",
    "check_dont_overwrite_parameters", "check_estimators_fit_returns_self",
    "check_readonly_memmap_input", "check_n_features_in_after_fitting",
    "check_estimators_dtypes", "check_dtype_object", "check_pipeline_consistency",
    "check_estimators_nan_inf", "check_estimators_pickle", "check_f_contiguous_array_estimator",
    "check_regressor_data_not_an_array", "check_estimators_partial_fit_n_features",
    "check_regressors_no_decision_function", "check_supervised_y_2d", "check_regressors_int",
    "check_non_transformer_estimators_n_iter", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_dict_unchanged", "check_fit_idempotent",
    "check_fit_check_is_fitted", "check_n_features_in", "check_fit2d_predict1d",
    "check_positive_only_tag_during_fit",
]
EXPECTED = {**NOT_APPLICABLE, **{name: IDS for name in IDS_CHECKS}}


@parametrize_with_checks([MatrixFactorization(n_jobs=1, max_iter=5, random_state=0)],
                         expected_failed_checks=lambda est: EXPECTED)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def ratings():
    return make_ratings(n_users=300, n_items=150, n_ratings=6000, n_components=4,
                        random_state=0)


def model(**params):
    return MatrixFactorization(4, max_iter=4, n_jobs=1, random_state=0, **params)


def test_contract_fit_returns_self_and_fitted_state(ratings):
    X, y = ratings
    est = model()
    with pytest.raises(NotFittedError):
        est.predict(X)
    assert est.fit(X, y) is est
    assert est.n_features_in_ == 2 and est.n_iter_ == 4
    assert est.partial_fit(X, y) is est


def test_contract_params_and_dict(ratings):
    """check_dont_overwrite_parameters, check_estimators_overwrite_params, check_dict_unchanged."""
    X, y = ratings
    est = model()
    params = joblib.hash(est.get_params())
    public = {k for k in vars(est) if not k.startswith("_")}
    est.fit(X, y)
    assert joblib.hash(est.get_params()) == params
    added = {k for k in vars(est) if not k.startswith("_")} - public
    assert added and all(k.endswith("_") for k in added)
    state = joblib.hash(vars(est))
    est.predict(X)
    est.score(X, y)
    assert joblib.hash(vars(est)) == state


def test_contract_same_model_from_every_form_of_input(ratings, tmp_path):
    """check_readonly_memmap_input, check_f_contiguous_array_estimator,
    check_regressor_data_not_an_array, check_regressors_int, check_estimators_dtypes,
    check_supervised_y_2d: the same fit from each form of the same data."""
    X, y = ratings
    reference = model().fit(X, y).predict(X)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    integral = np.round(y)
    forms = {
        "memmap": (np.load(tmp_path / "X.npy", mmap_mode="r"),
                   np.load(tmp_path / "y.npy", mmap_mode="r"), y),
        "fortran": (np.asfortranarray(X), y, y),
        "lists": (X.tolist(), y.tolist(), y),
        "int64 and float64": (X.astype(np.int64), y.astype(np.float64), y),
        "uint16 ids": (X.astype(np.uint16), y, y),
        "float ids": (X.astype(np.float64), y, y),
    }
    for name, (Xf, yf, _) in forms.items():
        np.testing.assert_allclose(model().fit(Xf, yf).predict(X), reference, rtol=1e-6,
                                   err_msg=name)
    # integer ratings fit as the same numbers as floats
    np.testing.assert_array_equal(model().fit(X, integral.astype(np.int64)).predict(X),
                                  model().fit(X, integral).predict(X))
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        column = model().fit(X, y[:, None]).predict(X)
    np.testing.assert_array_equal(column, reference)


def test_contract_pickle_pipeline_idempotent(ratings):
    """check_estimators_pickle, check_pipeline_consistency, check_fit_idempotent."""
    X, y = ratings
    est = model().fit(X, y)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict(X), est.predict(X))
    np.testing.assert_array_equal(again.recommend([0, 1])[0], est.recommend([0, 1])[0])
    assert make_pipeline(model()).fit(X, y).score(X, y) == pytest.approx(est.score(X, y))
    np.testing.assert_array_equal(clone(est).fit(X, y).predict(X), est.predict(X))


def test_contract_predict_order_and_subset_invariance(ratings):
    """check_methods_sample_order_invariance, check_methods_subset_invariance."""
    X, y = ratings
    est = model().fit(X, y)
    full = est.predict(X)
    order = np.random.RandomState(0).permutation(len(X))
    np.testing.assert_array_equal(est.predict(X[order]), full[order])
    for lo in range(0, len(X), 1000):
        np.testing.assert_array_equal(est.predict(X[lo:lo + 1000]), full[lo:lo + 1000])


@pytest.mark.parametrize("X, y, message", [
    (np.zeros((0, 2), int), np.zeros(0), "empty"),
    (np.array([[0, 1]], dtype=object), [1.0], "integer ids"),
    (np.array([[0, 1], [1, 0]]), np.array(["a", "b"], dtype=object), "numbers"),
    (np.array([[0, 1j], [1, 0]]), [1.0, 2.0], "Complex data not supported"),
    (np.array([[0, 1], [1, 0]]), np.array([1.0, 2.0]) * 1j, "Complex data not supported"),
    (np.array([[0, 1], [1, 0]]), np.array([1.0, np.inf]), "NaN or infinite"),
    (np.array([[0, 1, 2], [1, 0, 2]]), [1.0, 2.0], r"\(n, 2\)"),
    (np.array([[0, 1], [1, 0]]), np.ones((2, 2)), "1-d"),
])
def test_contract_bad_input(X, y, message):
    """check_estimators_empty_data_messages, check_dtype_object, check_complex_data,
    check_estimators_nan_inf, check_n_features_in_after_fitting."""
    with pytest.raises(ValueError, match=message):
        model().fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = model().fit(np.array([[0, 1], [1, 0]]), [1.0, 2.0])
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        est.predict(np.array([[0, 1, 2]]))
