"""bench/synthetic.py writes its sets as documented: sizes, masks, colours, defects only where masked."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import synthetic

COUNT = 3


@pytest.mark.parametrize("name", list(synthetic.SETS))
def test_set_layout(name, tmp_path):
    folder = synthetic.generate(name, tmp_path, seed=0, count=COUNT)
    assert folder == tmp_path / name
    normals, anomalies = sorted((folder / "normal").glob("*.png")), sorted((folder / "anomaly").glob("*.png"))
    assert len(normals) == len(anomalies) == COUNT
    sizes = {Image.open(path).size for path in normals + anomalies}
    assert len(sizes) == 1
    (size,) = sizes
    assert min(size) >= 400 and max(size) <= 640
    for path in normals + anomalies:
        assert Image.open(path).mode == ("L" if name in synthetic.GREY_ONLY else "RGB")
    classes = synthetic.SETS[name][1]
    if classes is None:
        assert not (folder / "masks").exists() and not (folder / "classes.json").exists()
        return
    written = json.loads((folder / "classes.json").read_text())
    assert written == classes and len(set(written.values())) == len(written)
    allowed = {tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5)) for colour in written} | {(255, 255, 255)}
    for path in anomalies:
        mask = Image.open(folder / "masks" / path.name)
        assert mask.size == size and mask.mode == "RGB"
        colours = {tuple(c) for c in np.asarray(mask).reshape(-1, 3)}
        assert colours <= allowed and len(colours) >= 2, colours


def test_deterministic_and_independent_of_count(tmp_path):
    one = synthetic.generate("boards", tmp_path / "a", seed=0, count=1)
    two = synthetic.generate("boards", tmp_path / "b", seed=0, count=2)
    other = synthetic.generate("boards", tmp_path / "c", seed=1, count=1)
    first = (one / "anomaly" / "000.png").read_bytes()
    assert first == (two / "anomaly" / "000.png").read_bytes()
    assert first != (other / "anomaly" / "000.png").read_bytes()


@pytest.mark.parametrize("name", list(synthetic.SETS))
def test_defects_only_where_masked(name):
    """An anomalous picture differs from its clean twin (same lighting, same noise) only inside its mask,
    give or take the lens blur; a normal picture is its own clean twin."""
    normal = synthetic.sample(name, 0, anomalous=False)
    assert np.array_equal(np.asarray(normal.image), np.asarray(normal.clean))
    for index in range(COUNT):
        item = synthetic.sample(name, index, anomalous=True)
        diff = np.abs(np.asarray(item.image, np.int16) - np.asarray(item.clean, np.int16)).max(axis=2)
        changed = diff > 12
        assert changed.sum() > 5, "the defect is not visible"
        if item.mask is None:
            continue
        marked = np.asarray(
            item.mask.convert("L").point(lambda v: 255 * (v < 255)).filter(ImageFilter.MaxFilter(5))
        )
        outside = changed & (marked == 0)
        assert outside.sum() <= 0.02 * changed.sum() + 3, (outside.sum(), changed.sum())
        coverage = (np.asarray(item.mask) != 255).any(axis=2).mean()
        assert coverage < 0.05, coverage


def test_grey_sets_are_the_same_pictures_in_grey(tmp_path):
    colour = synthetic.generate("boards", tmp_path, seed=0, count=2)
    grey = synthetic.generate("boards", tmp_path, seed=0, count=2, grey=True)
    assert grey == tmp_path / "boards-grey"
    for label in ("normal", "anomaly"):
        for path in sorted((colour / label).glob("*.png")):
            picture = Image.open(grey / label / path.name)
            assert picture.mode == "L"
            assert np.array_equal(np.asarray(picture), np.asarray(Image.open(path).convert("L")))
    for path in sorted((colour / "masks").glob("*.png")):
        assert np.array_equal(
            np.asarray(Image.open(grey / "masks" / path.name)), np.asarray(Image.open(path))
        )
    assert (grey / "classes.json").read_text() == (colour / "classes.json").read_text()


def test_turned_test_pictures_take_one_kind_of_fill_per_set(tmp_path):
    """bench/quality.py's turned photos: the background's colour only where every picture shows a part on
    a plain background; a set with one busy picture has every picture's surroundings reflected."""
    import quality

    plain = Image.new("RGB", (120, 90), (240, 240, 240))
    plain.paste(Image.new("RGB", (40, 30), (30, 60, 140)), (40, 30))
    plain.save(tmp_path / "plain.png")
    busy = np.random.default_rng(0).integers(0, 255, (90, 120, 3), dtype=np.uint8)
    Image.fromarray(busy).save(tmp_path / "busy.png")
    assert quality.plain_parts([tmp_path / "plain.png"])
    assert not quality.plain_parts([tmp_path / "plain.png", tmp_path / "busy.png"])
    corner = (0, 0, 12, 12)
    flat = quality.turned_image(tmp_path / "plain.png", np.random.default_rng(1), on_plain=True)
    assert np.asarray(flat.crop(corner)).std() == 0  # the background's colour
    # the busy picture in a set judged plain still takes its surroundings: it has no plain colour
    for on_plain in (False, True):
        reflected = quality.turned_image(tmp_path / "busy.png", np.random.default_rng(1), on_plain=on_plain)
        assert np.asarray(reflected.crop(corner)).std() > 20


def test_tiles_draw_every_defect_class_and_vary_in_shade():
    """The tiles set stands for real tiles: five kinds of defect, each drawn with its own mask colour among
    the first anomalous pictures, on tiles whose own shade varies."""
    classes = synthetic.SETS["tiles"][1]
    seen = set()
    for index in range(12):
        mask = np.asarray(synthetic.sample("tiles", index, anomalous=True).mask).reshape(-1, 3)
        seen |= {tuple(colour) for colour in np.unique(mask, axis=0)} - {(255, 255, 255)}
    assert seen == {tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5)) for colour in classes}
    # the scenes before the camera: the tiles themselves, not the exposure, differ by over 30 %
    shades = [float(synthetic._tiles(np.random.default_rng(seed), 0)[0][1][:200].mean()) for seed in range(8)]
    assert max(shades) / min(shades) > 1.3, shades


def test_quality_bench_keeps_each_seeds_pictures_apart(tmp_path, monkeypatch):
    """bench/quality.py --seed N (and --side N): the synthetic rows are made with that seed (and reduced to
    that side), in a folder of their own, so a folder of seed 0's sets is never read as another seed's."""
    import quality

    made, original = [], synthetic.generate

    def generate(name, out_dir, seed=0, count=30, grey=False, side=None):
        made.append((name, Path(out_dir), seed, grey, side))
        return original(name, out_dir, seed=seed, count=count, grey=grey, side=side)

    monkeypatch.setattr(quality.synthetic, "generate", generate)
    monkeypatch.setattr(
        quality.synthetic, "sample", lambda name, index, anomalous, seed=0: _tiny(index, anomalous, seed)
    )
    zero = quality.synthetic_data("boards", tmp_path)
    one = quality.synthetic_data("boards-grey", tmp_path, seed=1)
    again = quality.synthetic_data("boards", tmp_path)  # already made: not made again
    small = quality.synthetic_data("boards", tmp_path, seed=1, side=4)
    assert made == [
        ("boards", tmp_path, 0, False, None),
        ("boards", tmp_path / "seed-1", 1, True, None),
        ("boards", tmp_path / "seed-1" / "side-4", 1, False, 4),
    ]
    assert all(Image.open(item.path).size == (4, 4) for item in small.train + small.test)
    assert all(Image.open(item.mask).size == (4, 4) for item in small.train + small.test if item.mask)
    assert len(zero.train) == len(one.train) == 30 and [item.path for item in again.train] == [
        item.path for item in zero.train
    ]
    assert all(item.path.is_relative_to(tmp_path / "seed-1" / "boards-grey") for item in one.train + one.test)
    assert (
        np.asarray(Image.open(one.train[0].path)).mean() != np.asarray(Image.open(zero.train[0].path)).mean()
    )


def _tiny(index: int, anomalous: bool, seed: int) -> synthetic.Sample:
    """A stand-in for synthetic.sample: a small picture whose shade tells the seed."""
    picture = Image.new("RGB", (8, 8), (40 + 100 * seed, index, 200 * anomalous))
    mask = Image.new("RGB", (8, 8), (255, 0, 0)) if anomalous else None
    return synthetic.Sample(picture, picture, mask)


def test_pcb_scans_are_black_and_white_stretches_of_one_design():
    """The scanner keeps two levels; every scan is a 640-px stretch of the same board design: at some
    offset (found by cross-correlation) the design's copper and the scan's agree almost everywhere."""
    design = np.where(synthetic._pcb_design()[0] >= 0.5, 1.0, -1.0)
    side = design.shape[0]
    for index in range(2):
        item = synthetic.sample("pcb_scans", index, anomalous=False)
        grey = np.asarray(item.image.convert("L"))
        assert set(np.unique(grey)) == {0, 255}
        assert 0.05 < (grey == 255).mean() < 0.5
        scan = np.zeros_like(design)
        scan[:640, :640] = np.where(grey == 255, 1.0, -1.0)
        # agreement at offset (y, x) is sum(scan * design[y:, x:]): a correlation, through the FFT
        correlation = np.fft.irfft2(np.fft.rfft2(design) * np.conj(np.fft.rfft2(scan)), s=design.shape)
        valid = correlation[: side - 639, : side - 639]
        agreement = (valid.max() / 640**2 + 1) / 2
        assert agreement > 0.99, agreement
