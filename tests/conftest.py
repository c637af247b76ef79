import gzip
import os
import struct
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
from hypothesis import settings

# Every property test draws the same cases each run (CI is reproducible: a failure is one that a rerun shows
# again, and a pass is not luck); MNISTOPT_FUZZ_RANDOM=1 explores new ones (--hypothesis-seed=N repeats a run).
settings.register_profile("mnistopt", derandomize=not os.environ.get("MNISTOPT_FUZZ_RANDOM"))
settings.load_profile("mnistopt")

REPO = Path(__file__).resolve().parents[1]


def shared_mnist_dir() -> Path | None:
    """The real MNIST-10k files: $MNISTOPT_DATA, else ../shared/data/mnist (none when
    ``MNISTOPT_TEST_DATA=sample`` asks the suite to run as on a machine without them)."""
    if os.environ.get("MNISTOPT_TEST_DATA") == "sample":
        return None
    for candidate in (os.environ.get("MNISTOPT_DATA"), REPO.parent / "shared" / "data" / "mnist"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate).resolve()
    return None


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory) -> Path:
    """A folder of real MNIST IDX files: the shared MNIST-10k files, or, on a machine without them,
    the packaged sample written as the four standard IDX files (so fast tests never skip)."""
    path = shared_mnist_dir()
    if path is not None:
        return path
    with np.load(REPO / "src" / "mnistopt" / "_sample" / "mnist-sample.npz") as sample:
        return write_idx_dir(tmp_path_factory.mktemp("data") / "mnist", {k: sample[k] for k in
                                                                           ("x_train", "y_train", "x_test", "y_test")})


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared MNIST-10k folder itself, for the few tests about those very files (their sizes,
    their .npz copy); skipped where it is missing."""
    path = shared_mnist_dir()
    if path is None:
        pytest.skip("tests the shared MNIST-10k files, which are not here (set MNISTOPT_DATA)")
    return path


@pytest.fixture(scope="session")
def mnist_small(mnist_dir):
    """A small slice of real MNIST: 1,500 train, 300 val, 500 test images."""
    from mnistopt import load_dataset

    return load_dataset("mnist", path=mnist_dir).subset(train=1500, val=300, test=500)


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape) + array.tobytes()


def write_idx(path: Path, array: np.ndarray, magic: int, gz: bool = True) -> Path:
    data = idx_bytes(array, magic)
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def synthetic_arrays(n_train=200, n_test=50, seed=0, shape=(28, 28)):
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        "y_train": (np.arange(n_train) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        "y_test": (np.arange(n_test) % 10).astype(np.uint8),
    }


def write_idx_dir(directory: Path, arrays: dict, gz: bool = True, tag: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    write_idx(directory / f"train-images{tag}-idx3-ubyte{ext}", arrays["x_train"], 2051, gz)
    write_idx(directory / f"train-labels{tag}-idx1-ubyte{ext}", arrays["y_train"], 2049, gz)
    write_idx(directory / f"t10k-images-idx3-ubyte{ext}", arrays["x_test"], 2051, gz)
    write_idx(directory / f"t10k-labels-idx1-ubyte{ext}", arrays["y_test"], 2049, gz)
    return directory


def run_main(argv: list, capsys, monkeypatch, **env: str) -> tuple[int, str]:
    """``mnistopt ARGV`` in this process (``cli.main``, what ``python -m mnistopt`` calls) with ``env`` set:
    ``(exit status, standard error)``; an argparse error's ``SystemExit`` is its status."""
    from mnistopt.cli import main

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exc:
        status = exc.code
    return status, capsys.readouterr().err


def kill_after_records(argv: list, result_json: Path, count: int = 2, timeout: float = 240) -> dict:
    """Run ``argv``, SIGKILL it as soon as ``result_json`` holds ``count`` records, and return that
    file's content read after the kill (what a rerun will find)."""
    import json
    import signal
    import subprocess
    import time

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            if len(json.loads(result_json.read_text())["records"]) >= count:
                break
        except (OSError, ValueError):
            pass  # not written yet (never half-written: writes are atomic)
        time.sleep(0.05)
    assert proc.poll() is None, f"{argv[:3]} ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return json.loads(result_json.read_text())


def pytest_collection_modifyitems(config, items):
    """Slow tests measure real runs on MNIST-10k: without the shared files they are skipped
    (fast tests run anyway, on the packaged sample)."""
    if shared_mnist_dir() is not None:
        return
    skip = pytest.mark.skip(reason="real MNIST-10k files not found: set MNISTOPT_DATA (see README)")
    for item in items:
        if "slow" in item.keywords and "sample" not in item.nodeid:
            item.add_marker(skip)


def random_spec(data, activations):
    """A random MLPSpec or CNNSpec drawn with hypothesis' ``data`` (``st.data()``), its activation among
    ``activations``: for property tests that build the model."""
    from hypothesis import strategies as st

    from mnistopt import MLPSpec
    from mnistopt.cnn import cnn_of_width

    def draw_int(a, b):
        return data.draw(st.integers(a, b))

    def draw_choice(xs):
        return data.draw(st.sampled_from(xs))

    def draw_bool():
        return data.draw(st.booleans())

    activation = draw_choice(tuple(activations))
    if draw_bool():
        return MLPSpec(hidden=tuple(draw_int(1, 48) for _ in range(draw_int(0, 3))), crop=draw_choice((0, 2, 4)),
                       pool=draw_bool(), activation=activation, batch_norm=draw_bool(), dropout=draw_choice((0.0, 0.2)))
    n = draw_int(1, 3)
    return cnn_of_width(draw_int(1, 8), tuple(draw_choice((3, 5)) for _ in range(n)), tuple(1 + i for i in range(n)),
                        separable=tuple(draw_bool() for _ in range(n)),
                        downsample=tuple(draw_choice(("pool", "stride")) for _ in range(n)),
                        head=draw_choice(("gap", "flatten")), padding=draw_choice(("same", "valid")) if n < 3 else "same",
                        activation=activation, batch_norm=draw_bool())
