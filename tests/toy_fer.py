"""A toy labelled FER dataset and model shared by the training, export and serving tests."""
import numpy as np

from components.common.imageio import write_image
from components.common.manifest import write_manifest

CLASSES = ["neutral", "happy", "sad"]
FAST = dict(classes=CLASSES, epochs=6, batch_size=16, lr=2e-3, augment=False, patience=6)


def write_toy_dataset(root):
    """A labelled fersynth dataset whose classes differ visibly (a bright bar at a class-specific height)."""
    rng = np.random.RandomState(0)
    rows = []
    for seed in range(24):
        for k, emotion in enumerate(CLASSES):
            image = rng.randint(60, 120, (64, 64, 3)).astype(np.uint8)
            image[12 + 16 * k:20 + 16 * k, 8:56] = 230
            name = f"{seed}_{len(rows):06d}"
            write_image(root / "images" / f"{name}.png", image)
            rows.append({"id": name, "path": f"images/{name}.png", "seed": seed, "target_emotion": emotion,
                         "label_emotion": emotion, "label_aus": {"12": 1.0} if emotion == "happy" else {}})
    write_manifest(root, rows)
    return root
