"""PCA against NumPy's SVD, on both routes (covariance and data SVD), and on MNIST."""

import numpy as np
import pytest

from repro import pca


def _reference(x):
    centred = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    return s**2 / (len(x) - 1), vt


@pytest.mark.parametrize("shape", [(500, 12), (15, 40)], ids=["covariance", "svd"])
def test_matches_numpy_svd(shape):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape) @ rng.normal(size=(shape[1], shape[1])) + 3.0
    result = pca.fit(x)
    variances, vt = _reference(x)
    k = min(shape) - 1  # the last SVD direction of a rank-deficient set is arbitrary
    np.testing.assert_allclose(result.explained_variance[:k], variances[:k], rtol=1e-8)
    np.testing.assert_allclose(
        np.abs(np.sum(result.components[:k] * vt[:k], axis=1)), 1.0, atol=1e-8
    )
    np.testing.assert_allclose(result.mean, x.mean(axis=0))
    gram = result.components @ result.components.T
    np.testing.assert_allclose(gram, np.eye(len(gram)), atol=1e-8)
    assert result.total_variance == pytest.approx(x.var(axis=0, ddof=1).sum())


def test_fewer_samples_than_dimensions_return_only_the_directions_the_data_span():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(10, 3)) @ rng.normal(size=(3, 50)) + 1.0  # rank 3 once centred
    result = pca.fit(x)
    variances, vt = _reference(x)
    assert result.components.shape == (3, 50)
    np.testing.assert_allclose(result.explained_variance, variances[:3], rtol=1e-10)
    np.testing.assert_allclose(np.abs(np.sum(result.components * vt[:3], axis=1)), 1.0)
    assert result.explained_variance_ratio.sum() == pytest.approx(1.0, rel=1e-12)


def test_signs_are_deterministic_and_transform_projects():
    x = np.random.default_rng(1).normal(size=(200, 5))
    a, b = pca.fit(x), pca.fit(x.copy())
    np.testing.assert_array_equal(a.components, b.components)
    z = a.transform(x)
    np.testing.assert_allclose(z.var(axis=0, ddof=1), a.explained_variance, rtol=1e-10)


def test_save_load_roundtrip(tmp_path):
    x = np.random.default_rng(2).normal(size=(50, 4))
    result = pca.fit(x, n_components=3)
    pca.save(result, tmp_path / "p.npz", dataset=np.array("toy"))
    back = pca.load(tmp_path / "p.npz")
    np.testing.assert_array_equal(back.components, result.components)
    assert back.components.shape == (3, 4)
    np.testing.assert_array_equal(back.explained_variance, result.explained_variance)
    np.testing.assert_array_equal(back.mean, result.mean)
    assert back.total_variance == result.total_variance
    # 3 of 4 components: the ratios are the top-3 eigenvalues over the trace
    eig = np.sort(np.linalg.eigvalsh(np.cov(x, rowvar=False)))[::-1]
    np.testing.assert_allclose(back.explained_variance_ratio, eig[:3] / eig.sum(), rtol=1e-10)


@pytest.mark.parametrize("shape", [(300, 6), (8, 20)], ids=["covariance", "svd"])
def test_full_rank_explained_variance_ratios_sum_to_one(shape):
    x = np.random.default_rng(3).normal(size=shape) * np.arange(1, shape[1] + 1)
    result = pca.fit(x)
    assert result.explained_variance_ratio.sum() == pytest.approx(1.0, rel=1e-12)
    eig = np.sort(np.linalg.eigvalsh(np.cov(x, rowvar=False)))[::-1]
    k = len(result.explained_variance)
    np.testing.assert_allclose(result.explained_variance, eig[:k], rtol=1e-9, atol=1e-12)
    assert result.total_variance == pytest.approx(float(np.trace(np.cov(x, rowvar=False))))


def test_mnist_pca_matches_svd_of_training_pixels(manifests):
    from repro.data import load_images

    x = load_images(str(manifests("mnist"))).x_train.reshape(60000, -1) / 255.0
    subset = x[:5000]  # NumPy's SVD of all 60 000 rows takes ~40 s; the route is the same
    result = pca.fit(subset)
    variances, vt = _reference(subset)
    np.testing.assert_allclose(result.explained_variance[:50], variances[:50], rtol=1e-6)
    np.testing.assert_allclose(
        np.abs(np.sum(result.components[:10] * vt[:10], axis=1)), 1.0, atol=1e-6
    )


def test_dataset_pca_is_pca_of_scaled_flattened_training_images(manifests):
    from repro.data import load_images

    result, meta = pca.dataset_pca(manifests("mnist"))
    assert result.components.shape == (784, 784) and str(meta["dataset"]) == "mnist"
    x = load_images(str(manifests("mnist"))).x_train.reshape(60000, -1)
    np.testing.assert_allclose(result.mean, x.mean(axis=0) / 255.0, atol=1e-12)
    top = (x[:1000] / 255.0 - result.mean) @ result.components[0]
    assert top.var(ddof=1) == pytest.approx(result.explained_variance[0], rel=0.1)
