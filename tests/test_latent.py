import numpy as np

from components.identity.latent import principal_directions, regressed_directions


def test_both_pca_paths_match_numpy_svd():
    rng = np.random.RandomState(0)
    for n, d in ((40, 90), (300, 20)):  # Gram path and SVD path
        x = rng.randn(n, d) @ np.diag(np.linspace(4, 0.1, d))
        dirs = principal_directions(x, 5)
        _, s, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
        assert np.allclose(np.abs(dirs.vectors), np.abs(vt[:5]), atol=1e-8)
        assert np.allclose(dirs.sigmas, s[:5] / np.sqrt(n - 1))
        top = dirs.vectors[np.arange(5), np.abs(dirs.vectors).argmax(1)]
        assert (top > 0).all()  # signs fixed, so runs agree


def test_regression_recovers_a_linear_map():
    rng = np.random.RandomState(1)
    z = rng.randn(20000, 6)
    mixing = np.diag([5.0, 3.0, 1.0, 0.5, 0.2, 0.1])
    dirs = regressed_directions(z, z @ mixing, 2)
    assert np.allclose(np.abs(dirs.vectors[0]), np.eye(6)[0], atol=0.05)
    assert np.allclose(np.abs(dirs.vectors[1]), np.eye(6)[1], atol=0.05)
    assert np.allclose(dirs.sigmas, 1.0, atol=0.15)  # unit directions in a unit-Gaussian z
