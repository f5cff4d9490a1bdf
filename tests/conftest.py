import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("FERSYNTH_NO_PROGRESS", "1")


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()  # public-domain NASA photo with one face


@pytest.fixture(scope="session")
def grace_hopper_path() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
