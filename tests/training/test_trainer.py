"""The whole trainer on generated pictures: the model choice, the calibrated score, the larger working size
for small defects, and turned copies for parts at any angle on a busy background."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from server.training import pictures, trainer
from server.training.trainer import Job, Sample, train


def grain(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A busy, non-plain background: blurred noise in warm tones."""
    width, height = size
    noise = rng.normal(0, 1, (height, width, 1)) * np.array([70, 50, 35]) + np.array([150, 110, 70])
    return Image.fromarray(noise.clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.7))


def folder(tmp_path: Path, name: str, make, count: int, start: int = 0) -> list[Path]:
    (tmp_path / name).mkdir(exist_ok=True)
    paths = []
    for index in range(start, start + count):
        path = tmp_path / name / f"{index}.png"
        make(np.random.default_rng(index)).save(path)
        paths.append(path)
    return paths


def job(tmp_path: Path, normal, anomalous, size: tuple[int, int]) -> Job:
    def samples(paths, label):
        return [Sample(str(path), label, str(path)) for path in paths]

    train_set = samples(normal[0::2], "normal") + samples(anomalous[0::2], "anomaly")
    test_set = samples(normal[1::2], "normal") + samples(anomalous[1::2], "anomaly")
    return Job(train_set, test_set, size, str(tmp_path / "model"))


def part_on_grain(rng: np.random.Generator, broken: bool) -> Image.Image:
    """A bracket (an L with a hole) at any angle on a busy background; broken ones lack the hole's rim."""
    image = grain(rng, (160, 160))
    part = Image.new("L", (160, 160), 0)
    draw = ImageDraw.Draw(part)
    draw.rectangle((50, 40, 75, 120), fill=255)
    draw.rectangle((50, 95, 115, 120), fill=255)
    draw.ellipse((55, 50, 70, 65), fill=0)
    if broken:
        draw.rectangle((95, 95, 115, 108), fill=0)  # a bite out of the arm
    part = part.rotate(float(rng.uniform(0, 360)), resample=Image.BILINEAR)
    image.paste(Image.new("RGB", (160, 160), (70, 75, 90)), (0, 0), part)
    return image


def test_training_chooses_a_model_by_cross_validation_and_calibrates_its_score(tmp_path):
    normal = folder(tmp_path, "normal", lambda rng: part_on_grain(rng, False), 24)
    anomalous = folder(tmp_path, "anomaly", lambda rng: part_on_grain(rng, True), 16, start=100)
    phases: list[str] = []
    result = train(job(tmp_path, normal, anomalous, (160, 160)), progress=phases.append)
    # long phases say where they are (StatusMessage shows these): each candidate, fold by fold
    assert "Model choice (2): cross-validating a local (position-aware) memory, fold 3 of 5." in phases
    choice = result.selection
    names = [candidate["Candidate"] for candidate in choice["Candidates"]]
    assert names[:2] == ["160 px, global memory", "160 px, local (position-aware) memory"]  # the images' size
    assert choice["Chosen"]["Candidate"] in names and choice["Folds"] == 5
    assert result.metrics["ROCAUC"] >= 0.9
    scores = {p["source_ref"]: p["score"] for p in result.predictions}
    caught = [p["score"] for p in result.predictions if p["label"] == "anomaly" and p["anomalous"]]
    assert caught and np.mean(caught) >= 0.8  # a probability, not a score squeezed near the threshold
    assert len(set(np.round(list(scores.values()), 6))) == len(scores)  # nothing clipped to a tie at 0 or 1
    assert (Path(tmp_path / "model" / "model.onnx")).stat().st_size < 40_000_000
    # a global memory is searched in integers (unless its map is measured per place or its features hold
    # each cell's tone), a local one in floats
    chosen = choice["Chosen"]
    integers = (
        "global" in chosen["Candidate"] and "tone" not in chosen["Candidate"] and not chosen["PerPlaceLevels"]
    )
    assert ("MatMulInteger" in operators(tmp_path / "model")) == integers


def operators(model: Path) -> set[str]:
    import onnx

    return {node.op_type for node in onnx.load(str(model / "model.onnx")).graph.node}


def board(rng: np.random.Generator, defect: bool) -> Image.Image:
    """A fixtured board: the same traces every time (a pixel or two of jitter); a defect is a 3-px spur."""
    image = Image.new("RGB", (560, 400), (20, 90, 40))
    draw = ImageDraw.Draw(image)
    dx, dy = rng.integers(-1, 2, 2)
    for row in range(12):
        y = 30 + row * 28 + dy
        draw.line((40 + dx, y, 520 + dx, y), fill=(200, 170, 60), width=3)
    if defect:
        x, row = int(rng.integers(60, 500)), int(rng.integers(0, 11))
        y = 30 + row * 28 + dy
        draw.rectangle((x, y + 2, x + 2, y + 9), fill=(200, 170, 60))  # copper reaching for the next trace
    noisy = np.asarray(image, np.float32) + rng.normal(0, 6, (400, 560, 3))
    return Image.fromarray(noisy.clip(0, 255).astype(np.uint8))


def test_large_images_get_their_own_size_tried_even_where_the_working_size_separates_them(tmp_path):
    """The boards' copper spurs separate the training images at 320 px already; the images' own size is
    tried all the same (selection.wins then asks it to keep the labels clearly further apart), last, in
    ways of seeing tried at the working size, without tone. Each candidate's separation is on record."""
    normal = folder(tmp_path, "normal", lambda rng: board(rng, False), 24)
    anomalous = folder(tmp_path, "anomaly", lambda rng: board(rng, True), 16, start=100)
    result = train(job(tmp_path, normal, anomalous, (560, 400)))
    candidates = result.selection["Candidates"]
    names = [candidate["Candidate"] for candidate in candidates]
    working = [c for c in candidates if c["Candidate"].startswith("320 px")]
    assert max(max(c["CrossValidatedROCAUC"].values()) for c in working) >= 0.995, candidates
    larger = [name for name in names if name.startswith("576 px")]  # 560 px, to a multiple of 32
    assert larger and names[-len(larger) :] == larger, names
    # ...in ways of seeing tried at the working size, without tone (which: selection.larger_size_bases,
    # tested in test_selection)
    smaller = {name.split(", ", 1)[1] for name in names[: -len(larger)]}
    for name in larger:
        way = name.split(", ", 1)[1]
        assert way in smaller and "tone" not in way, names
    assert all(candidate["Separation"] > 1.0 for candidate in candidates), candidates
    assert result.metrics["ROCAUC"] >= 0.9


def saved_sample(
    folder: Path, index: int, image: Image.Image, mask: Image.Image | None, colors: dict[str, str]
):
    """A picture saved in `folder` as sample number `index`: anomalous, with its mask saved beside it, when it
    has a mask."""
    image.save(folder / f"{index}.png")
    if mask is None:
        return Sample(str(folder / f"{index}.png"), "normal", str(index))
    mask.save(folder / f"{index}-mask.png")
    return Sample(
        str(folder / f"{index}.png"), "anomaly", str(index), str(folder / f"{index}-mask.png"), colors
    )


def masked_samples(folder: Path, draw, count: int, first_anomaly: int, colors: dict[str, str], seed: int = 0):
    """`count` samples saved in `folder`, those from `first_anomaly` on anomalous with masks: `draw(rng,
    anomalous)` gives a picture and its mask, rng seeded by `seed` + the sample's index."""
    samples = []
    for index in range(count):
        anomalous = index >= first_anomaly
        image, mask = draw(np.random.default_rng(seed + index), anomalous)
        samples.append(saved_sample(folder, index, image, mask if anomalous else None, colors))
    return samples


def copper_with_holes(rng: np.random.Generator, holes: int) -> tuple[Image.Image, Image.Image]:
    """A scan of copper traces in a layout of its own (128x128), with `holes` pin-holes of 3x3 px, and
    their mask (red): at half the size a pin-hole is a grey pixel or two."""
    image = Image.new("L", (128, 128), 40)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(5, 8))):
        at, width = int(rng.integers(4, 124)), int(rng.integers(6, 11))
        draw.rectangle((0, at, 127, at + width) if rng.integers(2) else (at, 0, at + width, 127), fill=220)
    pixels = np.asarray(image).copy()
    solid = np.argwhere(pixels[3:-5, 3:-5] > 200) + 3
    mask = Image.new("RGB", (128, 128), (255, 255, 255))
    for _ in range(holes):
        for _ in range(50):  # a place with copper all round
            y, x = solid[int(rng.integers(len(solid)))]
            if pixels[y - 3 : y + 5, x - 3 : x + 5].min() > 200:
                break
        draw.rectangle((x, y, x + 2, y + 2), fill=40)
        ImageDraw.Draw(mask).rectangle((x, y, x + 2, y + 2), fill=(255, 0, 0))
    noisy = np.asarray(image, np.float32) + rng.normal(0, 4, (128, 128))
    return Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).convert("RGB"), mask


def test_small_defects_are_learnt_at_the_images_own_size_first(tmp_path, monkeypatch):
    """Pin-holes a few pixels across, several per scan: the memories are compared at the working size, where
    a pin-hole is a grey pixel. The holes span less than two of the trunk's cells there, so the masks' rule
    learns them at the images' own size first, where it separates the training scans, and the working
    size's masks are never learnt. With pieces not counted small, the working size's masks come first, its
    rule falls short, and the own size, learnt second, wins with the choice it replaced on record. Without
    either look the project is served at the working size and finds fewer of the test scans' holes."""
    from server.inference.bundle import read_bundle
    from server.training import segmentation, selection

    monkeypatch.setattr(trainer, "LONG_SIDE", 64)  # the 128x128 scans worked at half their size
    # the memories' comparison keeps the working size whatever the larger one does
    monkeypatch.setitem(selection.MARGIN, selection.HIGH_SIDE_COST, 1.0)
    samples = masked_samples(
        tmp_path,
        lambda rng, anomalous: copper_with_holes(rng, int(rng.integers(4, 9)) if anomalous else 0),
        72,
        40,
        {"#FF0000": "hole"},
    )
    split = samples[0::2], samples[1::2], (128, 128)
    phases: list[str] = []
    first = train(Job(*split, str(tmp_path / "first")), phases.append)
    chosen = first.selection["Chosen"]
    assert chosen["Candidate"].startswith("128 px") and chosen["DecisionRule"] == "supervised+masks", chosen
    assert chosen["CrossValidatedROCAUC"] >= 1 - selection.OTHER_SIZE_MARGIN and "InsteadOf" not in chosen
    assert "The labelled defects are small at 64 px: learning them at 128 px first." in phases
    assert chosen["SmallDefects"] == {"MedianSpan": 4.0, "WorkingSize": 64, "LearntFirstAt": 128}, chosen
    assert "Learning the anomaly classes at the other working size too." not in phases
    assert read_bundle(tmp_path / "first").input.width == 128  # served at the size it was chosen at

    monkeypatch.setattr(segmentation, "SMALL_SPAN", 0)  # no piece is small: the working size goes first
    phases.clear()
    second = train(Job(*split, str(tmp_path / "second")), phases.append)
    chosen = second.selection["Chosen"]
    assert chosen["Candidate"].startswith("128 px"), chosen
    assert chosen["InsteadOf"]["Candidate"].startswith("64 px"), chosen
    assert chosen["CrossValidatedROCAUC"] > chosen["InsteadOf"]["CrossValidatedROCAUC"] + 0.05
    assert "Learning the anomaly classes at the other working size too." in phases
    assert second.metrics == first.metrics  # the same model, reached the long way

    monkeypatch.setattr(selection, "OTHER_SIZE_MARGIN", 2.0)  # the same training, never switching
    one = train(Job(*split, str(tmp_path / "one")))
    assert (
        one.selection["Chosen"]["Candidate"].startswith("64 px")
        and "InsteadOf" not in one.selection["Chosen"]
    )
    assert first.metrics["ROCAUC"] > one.metrics["ROCAUC"] + 0.1, (first.metrics, one.metrics)
    (hole,), (hole_before,) = (
        first.metrics["PixelAnomalyClassMetrics"],
        one.metrics["PixelAnomalyClassMetrics"],
    )
    assert hole["AIOU"] > hole_before["AIOU"], (hole, hole_before)


def speckle(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A fine, low-contrast surface filling the frame: its border passes for plain (within the alignment's
    tolerance of one colour) though there is no part on a background."""
    width, height = size
    noise = rng.normal(0, 6, (height, width, 1)) + np.array([170, 165, 160])
    return Image.fromarray(noise.clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.7))


@pytest.mark.parametrize("picture", [grain, speckle])
def test_turned_copies_have_no_painted_corners(tmp_path, picture):
    """A turned copy's corners are reflected from the picture, not painted one colour: on a busy picture or
    a surface filling the frame its corner patches look like the rest of it, where a painted corner (black,
    or the border's own colour) would stand out."""
    from server.inference.alignment import plain_border
    from server.training.graphs import feature_graph
    from server.training.memory import Nearest
    from server.training.trainer import TURNS, _features, _reflected_turns, cpu_session, see

    path = tmp_path / "p.png"
    picture(np.random.default_rng(0), (128, 128)).save(path)
    session = cpu_session(feature_graph((128, 128)).SerializeToString())
    copies = _reflected_turns(session, str(path), (128, 128), np.random.default_rng(1))
    assert copies.shape == (len(TURNS) * 16 * 16, 152)
    own = _features(session, see(Sample(str(path), "normal", "p"), (128, 128)))
    corners = copies.reshape(len(TURNS), 16, 16, 152)[:, [0, 0, -1, -1], [0, -1, 0, -1]].reshape(-1, 152)
    image = Image.open(path).convert("RGB")
    painted = image.rotate(45, fillcolor=plain_border(image) or (0, 0, 0))
    painted.save(tmp_path / "painted.png")
    painted_corners = _features(
        session, see(Sample(str(tmp_path / "painted.png"), "normal", "q"), (128, 128))
    )
    painted_corners = painted_corners.reshape(16, 16, 152)[[0, 0, -1, -1], [0, -1, 0, -1]]
    reflected_distance = np.sqrt(np.maximum(Nearest(own).squared(corners), 0)).mean()
    painted_distance = np.sqrt(np.maximum(Nearest(own).squared(painted_corners), 0)).mean()
    assert reflected_distance < 0.6 * painted_distance


def test_turned_copies_of_parts_on_a_plain_background_take_its_colour(tmp_path):
    """Where the project's parts lie on a plain background (alignment's test of every normal image), the
    corners a turn uncovers take the picture's own background colour; elsewhere they are reflected."""
    from server.training.graphs import feature_graph
    from server.training.samples import network_input
    from server.training.trainer import TURNS, _reflected_turns, cpu_session

    pixels = np.full((128, 128, 3), 200, np.uint8)
    pixels[12:116, 12:116] = np.random.default_rng(0).integers(0, 255, (104, 104, 3))
    Image.fromarray(pixels).save(tmp_path / "p.png")
    session = cpu_session(feature_graph((128, 128)).SerializeToString())
    flat = _reflected_turns(session, str(tmp_path / "p.png"), (128, 128), np.random.default_rng(1),
                            background=(190, 190, 190))  # fmt: skip
    reflected = _reflected_turns(session, str(tmp_path / "p.png"), (128, 128), np.random.default_rng(1))
    rng, expected = np.random.default_rng(1), []
    for angle in TURNS:  # the same draws: each copy's angle
        turned = Image.fromarray(pixels).rotate(angle + float(rng.uniform(-15, 15)), resample=Image.BILINEAR,
                                                fillcolor=(200, 200, 200))  # fmt: skip
        (maps,) = session.run(["features"], {"image": network_input(np.asarray(turned))})
        expected.append(maps[0].reshape(maps.shape[1], -1).T)
    assert np.allclose(flat, np.concatenate(expected), atol=1e-4)  # this picture's own colour, 200
    assert not np.allclose(reflected, flat, atol=1e-2)


def test_a_project_without_labelled_anomalies_still_trains(tmp_path):
    """L4V allows a train dataset of normal images only (with a separate test dataset): nothing to judge
    candidates by, so the first one is kept, and the threshold sits just above the normal images."""
    normal = folder(tmp_path, "normal", lambda rng: part_on_grain(rng, False), 24)
    anomalous = folder(tmp_path, "anomaly", lambda rng: part_on_grain(rng, True), 8, start=100)
    plain = job(tmp_path, normal, anomalous, (160, 160))
    only_normal = Job(
        [s for s in plain.train if s.label == "normal"], plain.test, plain.image_size, plain.output
    )
    phases: list[str] = []
    result = train(only_normal, progress=phases.append)
    assert "No anomalous training image: the model choice keeps the first candidate." in phases
    assert len(result.selection["Candidates"]) == 1 and result.selection["Chosen"]["DecisionRule"] == "memory"
    normal_scores = [p["score"] for p in result.predictions if p["label"] == "normal"]
    assert np.mean(normal_scores) < 0.5 and result.metrics["ROCAUC"] > 0.7


def test_large_projects_learn_the_decision_from_the_compared_images_and_turn_fewer_copies(
    tmp_path, monkeypatch
):
    """More than SELECTION_IMAGES images of a label: the decision is learnt from the images the candidates
    were compared on (30 of each label), every normal image still fills the memory, and each normal image
    gets fewer turned copies (TURNED_IMAGES in all), at angles of their own. Each image goes through the
    trunk once (the candidates share what they see), the anomalous ones left out of the comparison never."""
    from server.training.selection import SELECTION_IMAGES

    normal = folder(tmp_path, "normal", lambda rng: part_on_grain(rng, False), 64)
    anomalous = folder(tmp_path, "anomaly", lambda rng: part_on_grain(rng, True), 36, start=100)
    turned_counts: list[int] = []
    original = trainer._reflected_turns
    seen_features: list[str] = []
    features = trainer._features

    def counting(session, path, size, rng, count=4, background=None):
        turned_counts.append(count)
        return original(session, path, size, rng, count, background)

    def seeing(session, seen):
        seen_features.append(seen.sample.path)
        return features(session, seen)

    monkeypatch.setattr(trainer, "_reflected_turns", counting)
    monkeypatch.setattr(trainer, "_features", seeing)
    monkeypatch.setattr(trainer, "ENLARGE", 1)  # one working size: enlarged pictures are another view
    train_set = [Sample(str(p), "normal", str(p)) for p in normal] + [
        Sample(str(p), "anomaly", str(p)) for p in anomalous
    ]
    test_set = train_set[:3] + train_set[-3:]
    result = train(Job(train_set, test_set, (160, 160), str(tmp_path / "model")))
    assert result.selection["DecisionImages"] == 2 * SELECTION_IMAGES
    assert turned_counts == [trainer.TURNED_IMAGES // 64] * 64  # one copy each: 64 normal images
    names = [candidate["Candidate"] for candidate in result.selection["Candidates"]]
    assert "160 px, global memory with turned copies" in names
    assert len(seen_features) == len(set(seen_features)) == 64 + SELECTION_IMAGES
    assert result.selection["Chosen"]["Memory"] > 0 and result.metrics["ROCAUC"] >= 0.9


def test_turned_copies_at_a_larger_size_cost_the_trunk_no_more_than_at_the_working_size():
    """TURNED_IMAGES copies in all at the working size (four at most of each image); at a larger size, as
    many pixels through the trunk as those copies hold, one copy of each image at least."""
    assert trainer.turned_per_image(15, (320, 320), (320, 320)) == 4
    assert trainer.turned_per_image(15, (320, 224), (320, 224)) == 4
    assert trainer.turned_per_image(40, (320, 320), (320, 320)) == trainer.TURNED_IMAGES // 40
    assert trainer.turned_per_image(15, (640, 640), (320, 320)) == trainer.TURNED_IMAGES // 4 // 15
    assert trainer.turned_per_image(15, (512, 512), (320, 320)) == 3  # 46 copies' pixels at 512x512
    assert trainer.turned_per_image(38, (640, 640), (320, 320)) == 1


def sixteen_bit_plate(rng: np.random.Generator, dented: bool) -> Image.Image:
    """A 16-bit grey picture (as industrial cameras save them): a plate with a shaded gradient, levels far
    above 255; a dent is a darker spot."""
    yy, xx = np.mgrid[0:96, 0:96]
    levels = 30_000 + 80 * xx + 40 * yy + rng.normal(0, 400, (96, 96))
    if dented:
        cx, cy = rng.integers(25, 70, 2)
        levels -= 12_000 * (np.hypot(xx - cx, yy - cy) < 7)
    return Image.fromarray(levels.clip(0, 65535).astype(np.uint16))


def test_training_images_are_read_as_detect_anomalies_decodes_them(tmp_path):
    """16-bit grey, transparent and palette pictures: the trainer sees the pixels DetectAnomalies will
    decode (Pillow's own RGB conversion would saturate 16-bit grey to white and drop transparency
    differently), so a project of 16-bit images trains a model that finds its defects."""
    from server.inference.images import decode_image

    grey16 = sixteen_bit_plate(np.random.default_rng(0), dented=True)
    transparent = Image.new("RGBA", (80, 64), (200, 40, 40, 0))
    transparent.paste((10, 120, 200, 255), (20, 16, 60, 48))
    palette = Image.new("RGB", (80, 64), (30, 160, 60)).convert("P")
    for name, picture in (("grey16", grey16), ("transparent", transparent), ("palette", palette)):
        path = tmp_path / f"{name}.png"
        picture.save(path)
        seen = trainer.see(Sample(str(path), "normal", str(path)), (64, 64))
        decoded = decode_image(path.read_bytes(), "image/png").resize((64, 64), Image.Resampling.BILINEAR)
        assert np.array_equal(seen.pixels, np.asarray(decoded)), name
    assert 100 < np.asarray(pictures.open_rgb(str(tmp_path / "grey16.png"))).mean() < 200  # not saturated

    normal = folder(tmp_path, "normal", lambda rng: sixteen_bit_plate(rng, False), 24)
    anomalous = folder(tmp_path, "anomaly", lambda rng: sixteen_bit_plate(rng, True), 16, start=100)
    result = train(job(tmp_path, normal, anomalous, (96, 96)))
    assert result.metrics["ROCAUC"] >= 0.9


def stained_plate(rng: np.random.Generator, stained: bool) -> Image.Image:
    """A painted plate filling the frame, lit from any side, with a fine grain; a stain is a soft brownish
    blob with no edge, weaker than the light's fall-off across the plate."""
    yy, xx = np.mgrid[0:128, 0:128].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    light = (1 + 0.2 * ((xx - 64) * np.cos(angle) + (yy - 64) * np.sin(angle)) / 64) * (
        1 + 0.04 * rng.normal(0, 1, (128, 128))
    )
    pixels = np.array([200, 110, 40], np.float32) * light[..., None]
    if stained:
        cx, cy = rng.uniform(35, 93, 2)
        blob = 0.25 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * rng.uniform(8, 11) ** 2))
        burnt = np.array([140, 100, 60], np.float32) * light[..., None]
        pixels = pixels * (1 - blob[..., None]) + burnt * blob[..., None]
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def test_soft_stains_are_found_by_each_cells_tone(tmp_path):
    """The trunk's features hardly see a soft discoloured patch under light that changes more across the
    plate than the stain does (held-out AUROC near chance); the same candidate with each cell's tone
    against its surroundings wins the comparison and finds them."""
    normal = folder(tmp_path, "normal", lambda rng: stained_plate(rng, False), 24)
    anomalous = folder(tmp_path, "anomaly", lambda rng: stained_plate(rng, True), 16, start=100)
    result = train(job(tmp_path, normal, anomalous, (128, 128)))
    candidates = {entry["Candidate"]: entry for entry in result.selection["Candidates"]}
    plain = max(candidates["128 px, global memory"]["CrossValidatedROCAUC"].values())
    toned = max(candidates["128 px, global memory, with tone"]["CrossValidatedROCAUC"].values())
    assert toned > plain + 0.1
    assert result.selection["Chosen"]["Candidate"] == "128 px, global memory, with tone"
    assert result.metrics["ROCAUC"] >= 0.95
    # the search in 8-bit integers over the trunk's 152 channels; the tone's 6, whose range is too wide for
    # the trunk's scale, in floats added to each chunk's bracket
    graph = onnx.load(str(tmp_path / "model" / "model.onnx")).graph
    weights = {item.name: numpy_helper.to_array(item) for item in graph.initializer}
    integer = [weights[node.input[1]].shape for node in graph.node if node.op_type == "MatMulInteger"]
    exact = [
        weights[node.input[1]].shape
        for node in graph.node
        if node.op_type == "Gemm" and "exact" in node.input[1]
    ]
    assert integer and {shape[0] for shape in integer} == {152}
    assert len(exact) == len(integer) and {shape[0] for shape in exact} == {6}


def recorded_reads(monkeypatch, reader: str) -> list[str]:
    """The paths pictures.<reader> (_decode or _decode_mask) decodes from now on, in order."""
    paths: list[str] = []
    original = getattr(pictures, reader)

    def recording(path: str):
        paths.append(path)
        return original(path)

    monkeypatch.setattr(pictures, reader, recording)
    return paths


def test_training_images_are_decoded_once_per_training(tmp_path, monkeypatch):
    """Every candidate, the turned copies and the segmentation read the training images again: they are
    decoded once and kept while the model trains (within pictures.DECODED_BUDGET); test images are read
    once and not kept, and nothing is kept after training."""
    normal = folder(tmp_path, "normal", lambda rng: part_on_grain(rng, False), 12)
    anomalous = folder(tmp_path, "anomaly", lambda rng: part_on_grain(rng, True), 8, start=100)
    decoded = recorded_reads(monkeypatch, "_decode")
    project = job(tmp_path, normal, anomalous, (160, 160))
    train(project)
    train_paths = sorted(sample.path for sample in project.train)
    test_paths = sorted(sample.path for sample in project.test)
    assert sorted(path for path in decoded if path in train_paths) == train_paths
    assert sorted(path for path in decoded if path in test_paths) == test_paths
    assert pictures._DECODED.get() is None

    decoded.clear()
    monkeypatch.setattr(pictures, "DECODED_BUDGET", 0)  # no room: every reading decodes again
    train(project)
    assert len([path for path in decoded if path in train_paths]) > len(train_paths)


def scratched_metal(rng: np.random.Generator, scratched: bool) -> tuple[Image.Image, Image.Image]:
    """Brushed metal under varying light, and its mask; a scratch is a thin bent line, darker than the
    metal or lighter (as it catches the light or not)."""
    streaks = np.repeat(rng.normal(0, 1, (1, 128)), 128, axis=0) + 0.6 * rng.normal(0, 1, (128, 128))
    metal = 150 * (1 + 0.06 * streaks) * rng.uniform(0.85, 1.15)
    mask = Image.new("RGB", (128, 128), (255, 255, 255))
    if scratched:
        x, y = rng.uniform(30, 98, 2)
        angle = rng.uniform(0, 2 * np.pi)
        points = [(x, y)]
        for _ in range(3):
            angle += rng.uniform(-0.4, 0.4)
            x, y = x + 14 * np.cos(angle), y + 14 * np.sin(angle)
            points.append((x, y))
        line = Image.new("L", (128, 128), 0)
        ImageDraw.Draw(line).line(points, fill=255, width=2)
        ImageDraw.Draw(mask).line(points, fill=(0, 0, 255), width=2)
        alpha = np.asarray(line, np.float32) / 255
        metal = metal * (1 - alpha) + metal * (0.55 if rng.random() < 0.5 else 1.4) * alpha
    pixels = metal[..., None] * np.array([1.0, 1.01, 1.04]) + rng.normal(0, 3, (128, 128, 1))
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.5)), mask


def metal_sample(folder: Path, index: int, scratched: bool) -> Sample:
    """scratched_metal's picture number `index` (and its mask), saved in `folder`."""
    image, mask = scratched_metal(np.random.default_rng(index), scratched)
    return saved_sample(folder, index, image, mask if scratched else None, {"#0000FF": "scratch"})


def test_thin_scratches_lighter_or_darker_than_a_texture_are_drawn(tmp_path):
    """The refinement is linear in its pixel features: it draws a scratch that may be lighter or darker
    than the metal from how far each pixel is from its surroundings either way (with colour and contrast
    alone, the same images gave IoU 0.24)."""
    samples = [metal_sample(tmp_path, index, scratched=index >= 36) for index in range(60)]
    result = train(Job(samples[0::2], samples[1::2], (128, 128), str(tmp_path / "model")))
    (scratch,) = result.metrics["PixelAnomalyClassMetrics"]
    assert scratch["ClassName"] == "scratch" and scratch["AIOU"] > 0.7, scratch
    # the masks also offered a decision rule of their own, judged on the held-out images like the others
    assert 0.5 < result.selection["Chosen"]["MaskRuleROCAUC"] <= 1.0 and result.metrics["ROCAUC"] > 0.95
    # the pictures' own size separates these images, and they have masks: never tried enlarged (their
    # scratches were drawn worse so: IoU 0.88 -> 0.60)
    names = [candidate["Candidate"] for candidate in result.selection["Candidates"]]
    assert (
        not any("enlarged" in name for name in names)
        and max(max(c["CrossValidatedROCAUC"].values()) for c in result.selection["Candidates"]) >= 0.995
    ), result.selection["Candidates"]


def faint_marks(rng: np.random.Generator, marks: int) -> tuple[Image.Image, Image.Image]:
    """Brushed metal (as scratched_metal) with `marks` faint marks, and their mask: dots 15 % darker than the
    metal (red) and short dashes 15 % lighter (blue)."""
    streaks = np.repeat(rng.normal(0, 1, (1, 128)), 128, axis=0) + 0.6 * rng.normal(0, 1, (128, 128))
    metal = 150 * (1 + 0.06 * streaks) * rng.uniform(0.85, 1.15)
    mask = Image.new("RGB", (128, 128), (255, 255, 255))
    shade = np.ones((128, 128), np.float32)
    for _ in range(marks):
        layer = Image.new("L", (128, 128), 0)
        x, y = rng.uniform(12, 116, 2)
        if rng.integers(2) == 0:
            r = rng.uniform(1.5, 3)
            for drawn, fill in ((layer, 255), (mask, (255, 0, 0))):
                ImageDraw.Draw(drawn).ellipse((x - r, y - r, x + r, y + r), fill=fill)
            tone = 0.85
        else:
            angle = rng.uniform(0, np.pi)
            points = [(x, y), (x + 10 * np.cos(angle), y + 10 * np.sin(angle))]
            for drawn, fill in ((layer, 255), (mask, (0, 0, 255))):
                ImageDraw.Draw(drawn).line(points, fill=fill, width=2)
            tone = 1.15
        alpha = np.asarray(layer, np.float32) / 255
        shade = shade * (1 - alpha) + tone * alpha
    pixels = (metal * shade)[..., None] * np.array([1.0, 1.01, 1.04]) + rng.normal(0, 3, (128, 128, 1))
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.5)), mask


def faint_mark_samples(folder: Path) -> list[Sample]:
    """60 pictures of faint_marks (128 x 128), from number 44 on with one to three marks."""
    return masked_samples(
        folder,
        lambda rng, anomalous: faint_marks(rng, int(rng.integers(1, 4)) if anomalous else 0),
        60,
        44,
        {"#FF0000": "dot", "#0000FF": "dash"},
        seed=100,
    )


def test_offsets_chosen_on_held_out_masks_paint_faint_marks_better(tmp_path, monkeypatch):
    """With eight labelled anomalies, the refinement learns the faint dots well enough to draw its own
    training masks but paints too little of new ones; offsets on the classes' scores, chosen on masks that
    each held-out refinement has not seen, paint more of them (measured: dot IoU 0.58 -> 0.71), and are on
    record in the choice. At the pictures' own size: enlarged twice (trainer.ENLARGE; these pictures' own size
    does not separate them), the refinement drew the dots better without offsets (measured: 0.76), which left
    the offsets less to add (0.80)."""
    from server.training import segmentation

    monkeypatch.setattr(trainer, "ENLARGE", 1)
    samples = faint_mark_samples(tmp_path)

    def dot_iou(result: trainer.Result) -> float:
        return next(e["AIOU"] for e in result.metrics["PixelAnomalyClassMetrics"] if e["ClassName"] == "dot")

    with_offsets = train(Job(samples[0::2], samples[1::2], (128, 128), str(tmp_path / "offsets")))
    offsets = with_offsets.selection["Chosen"]["MaskClassOffsets"]
    assert set(offsets) == {"dot", "dash"} and offsets["dot"] > 0, offsets
    monkeypatch.setattr(segmentation, "OFFSET_SHARE", 0.0)  # the same training, the offsets left out
    without = train(Job(samples[0::2], samples[1::2], (128, 128), str(tmp_path / "none")))
    assert "MaskClassOffsets" not in without.selection["Chosen"]
    assert dot_iou(with_offsets) > dot_iou(without) + 0.05, (dot_iou(with_offsets), dot_iou(without))


def small_board(rng: np.random.Generator, defect: bool, spur: tuple[int, int] = (1, 3)) -> Image.Image:
    """A fixtured board in a small picture (128 x 96): ten traces 2 px wide, 9 px apart (a pixel of jitter); a
    defect is a spur `spur` pixels wide and long (one by three)."""
    image = Image.new("RGB", (128, 96), (20, 90, 40))
    draw = ImageDraw.Draw(image)
    dx, dy = rng.integers(0, 2, 2)
    for row in range(10):
        y = 6 + row * 9 + dy
        draw.line((8 + dx, y, 120 + dx, y), fill=(200, 170, 60), width=2)
    if defect:
        x, row = int(rng.integers(12, 116)), int(rng.integers(0, 9))
        y = 6 + row * 9 + dy
        draw.rectangle((x, y + 2, x + spur[0] - 1, y + 1 + spur[1]), fill=(200, 170, 60))
    noisy = np.asarray(image, np.float32) + rng.normal(0, 5, (96, 128, 3))
    return Image.fromarray(noisy.clip(0, 255).astype(np.uint8))


def test_small_pictures_are_tried_enlarged_where_their_own_size_does_not_separate_them(tmp_path, monkeypatch):
    """Spurs of one pixel by three in 128 px pictures do not separate the training images at the pictures'
    own size: enlarged twice they are tried last, win, and find the test boards' spurs better than the same
    project kept at the pictures' own size (measured: AUROC 0.92 -> 0.99, F1 0.79 -> 0.97). The served model
    reads the picture enlarged, and DetectAnomalies' runner gives the evaluation's scores."""
    from server.inference.bundle import read_bundle
    from server.inference.runtime import ModelRunner

    normal = folder(tmp_path, "normal", lambda rng: small_board(rng, False), 40)
    anomalous = folder(tmp_path, "anomaly", lambda rng: small_board(rng, True), 30, start=100)
    samples = [Sample(str(p), "normal", str(p)) for p in normal] + [
        Sample(str(p), "anomaly", str(p)) for p in anomalous
    ]
    train_set, test_set = samples[0:40:2] + samples[40::2], samples[1:40:2] + samples[41::2]

    enlarged = train(Job(train_set, test_set, (128, 96), str(tmp_path / "enlarged")))
    candidates = enlarged.selection["Candidates"]
    names = [candidate["Candidate"] for candidate in candidates]
    own = [candidate for candidate in candidates if candidate["Candidate"].startswith("128 px")]
    assert max(max(c["CrossValidatedROCAUC"].values()) for c in own) < 0.995, own  # not separated...
    larger = [name for name in names if name.startswith("256 px (pictures enlarged), ")]
    assert larger and names[-len(larger) :] == larger, names  # ...so tried enlarged, last
    assert enlarged.selection["Chosen"]["Candidate"] in larger, enlarged.selection["Chosen"]
    description = read_bundle(tmp_path / "enlarged")
    assert (description.input.width, description.input.height) == (256, 192)

    monkeypatch.setattr(trainer, "ENLARGE", 1)  # the same project at the pictures' own size
    kept = train(Job(train_set, test_set, (128, 96), str(tmp_path / "own")))
    assert all(candidate["Candidate"].startswith("128 px") for candidate in kept.selection["Candidates"])
    assert enlarged.metrics["ROCAUC"] > kept.metrics["ROCAUC"] + 0.03, (enlarged.metrics, kept.metrics)
    assert enlarged.metrics["F1Score"] > kept.metrics["F1Score"] + 0.1, (enlarged.metrics, kept.metrics)

    runner = ModelRunner(tmp_path / "enlarged", description, threads=1)
    for sample, prediction in zip(test_set, enlarged.predictions, strict=True):
        with Image.open(sample.path) as image:
            served = runner.predict(image.convert("RGB"))
        assert served.score == pytest.approx(prediction["score"], abs=1e-4)


def test_small_pictures_their_own_size_separates_are_tried_enlarged_too_where_nothing_is_masked(
    tmp_path, monkeypatch
):
    """Labelled spurs of two pixels by five separate the training images at the pictures' own size; the
    pictures are tried enlarged all the same and win by keeping the labels clearly further apart
    (selection.wins), which finds the test boards' smaller spurs (one by three) that the own size misses
    (measured: AUROC 0.65 -> 1.0, F1 0 -> 1.0)."""
    normal = folder(tmp_path, "normal", lambda rng: small_board(rng, False), 40)
    labelled = folder(tmp_path, "labelled", lambda rng: small_board(rng, True, (2, 5)), 15, start=100)
    smaller = folder(tmp_path, "smaller", lambda rng: small_board(rng, True), 15, start=200)
    train_set = [Sample(str(p), "normal", str(p)) for p in normal[0::2]]
    train_set += [Sample(str(p), "anomaly", str(p)) for p in labelled]
    test_set = [Sample(str(p), "normal", str(p)) for p in normal[1::2]]
    test_set += [Sample(str(p), "anomaly", str(p)) for p in smaller]

    enlarged = train(Job(train_set, test_set, (128, 96), str(tmp_path / "enlarged")))
    candidates = enlarged.selection["Candidates"]
    own = [candidate for candidate in candidates if candidate["Candidate"].startswith("128 px")]
    assert max(max(c["CrossValidatedROCAUC"].values()) for c in own) >= 0.995, own  # separated...
    chosen = next(c for c in candidates if c["Candidate"] == enlarged.selection["Chosen"]["Candidate"])
    assert chosen["Candidate"].startswith("256 px (pictures enlarged), "), candidates  # ...and enlarged won
    assert chosen["Separation"] > 1.25 * max(candidate["Separation"] for candidate in own), candidates

    monkeypatch.setattr(trainer, "ENLARGE", 1)  # the same project at the pictures' own size
    kept = train(Job(train_set, test_set, (128, 96), str(tmp_path / "own")))
    assert enlarged.metrics["ROCAUC"] >= 0.95 and kept.metrics["ROCAUC"] < 0.8, (
        enlarged.metrics,
        kept.metrics,
    )
    assert enlarged.metrics["F1Score"] > kept.metrics["F1Score"] + 0.5, (enlarged.metrics, kept.metrics)


@pytest.mark.parametrize(
    ("image_size", "images", "expected"),
    [((560, 400), 40, (576, False)), ((1280, 960), 40, (640, False)), ((300, 300), 40, (608, True)),
     ((400, 300), 40, (640, True)), ((224, 160), 40, (448, True)), ((128, 96), 40, (256, True)),
     ((300, 300), 161, None), ((560, 400), 161, None)],
)  # fmt: skip
def test_the_larger_working_size_is_the_images_own_or_small_pictures_enlarged(image_size, images, expected):
    """The images' own size (up to HIGH_SIDE) where it is well above LONG_SIDE; else the pictures enlarged
    ENLARGE times, up to HIGH_SIDE; neither beyond HIGH_SIDE_IMAGES training images. Sides are multiples of
    32, enlarged ones too."""
    assert trainer.high_side(image_size, images) == expected
    assert trainer.input_size((300, 200), 608, enlarged=True) == (608, 416)
    assert trainer.input_size((300, 200), 608) == (288, 192)  # never enlarged unless asked


def test_a_segmentation_project_with_few_labelled_defects_still_draws_them(tmp_path):
    """With fewer labelled anomalies than a learnt rule needs, the masks still train the segmentation, and
    the decision stays with the memory (no rule of the masks is offered)."""
    samples = [metal_sample(tmp_path, index, scratched=index >= 24) for index in range(32)]
    train_set = samples[0:24:2] + samples[24:28]
    test_set = samples[1:24:2] + samples[28:]
    result = train(Job(train_set, test_set, (128, 128), str(tmp_path / "model")))
    chosen = result.selection["Chosen"]
    assert chosen["DecisionRule"] == "memory" and "MaskRuleROCAUC" not in chosen
    (scratch,) = result.metrics["PixelAnomalyClassMetrics"]
    assert scratch["AIOU"] > 0.5, scratch


def bracket_on_white(rng: np.random.Generator, angle: float | None = None) -> Image.Image:
    """The bracket of part_on_grain on a plain white background (alignment's case), at `angle` or any."""
    part = Image.new("L", (160, 160), 0)
    draw = ImageDraw.Draw(part)
    draw.rectangle((50, 40, 75, 120), fill=255)
    draw.rectangle((50, 95, 115, 120), fill=255)
    part = part.rotate(float(rng.uniform(0, 360)) if angle is None else angle, resample=Image.BILINEAR)
    image = Image.new("RGB", (160, 160), (250, 250, 250))
    image.paste(Image.new("RGB", (160, 160), (70, 75, 90)), (0, 0), part)
    return image


def poses(tmp_path: Path, name: str, make) -> list[float]:
    """Where alignment finds each of six generated parts turned (degrees, -180..180) from upright."""
    from server.inference.alignment import locate

    paths = folder(tmp_path, name, make, 6)
    alignment = trainer.choose_alignment([Sample(str(path), "normal", str(path)) for path in paths])
    assert alignment is not None
    found = []
    for path in paths:
        with Image.open(path) as image:
            found.append((locate(image.convert("RGB"), alignment).angle + 180) % 360 - 180)
    return found


def test_upright_is_the_normal_parts_mean_pose(tmp_path):
    """Parts at any angle: upright is their mean pose, so the first image is turned by the alignment's warp
    like every other one (upright used to be the first part's pose; left sharp, it stood out from the
    memory). Parts photographed alike stay within a few degrees of their own pose."""
    anywhere = poses(tmp_path, "anywhere", bracket_on_white)
    assert abs(np.angle(np.exp(1j * np.deg2rad(anywhere)).mean(), deg=True)) <= 1
    assert abs(anywhere[0]) >= 5
    alike = poses(tmp_path, "alike", lambda rng: bracket_on_white(rng, float(rng.uniform(-3, 3))))
    assert max(abs(angle) for angle in alike) <= 8


def test_test_images_are_scored_in_order_whichever_session_takes_them(tmp_path, monkeypatch):
    """The test images are scored by two sessions at once (each on half the cores); the predictions come
    back in the test set's order, with the scores one session gives."""
    from server.training.decision import memory_only
    from server.training.graphs import Decision, feature_graph, scoring_graph
    from server.training.samples import cpu_session, network_input

    size = (96, 64)
    pictures = [grain(np.random.default_rng(index), size) for index in range(7)]
    samples = []
    for index, picture in enumerate(pictures):
        picture.save(tmp_path / f"{index}.png")
        samples.append(
            Sample(str(tmp_path / f"{index}.png"), "anomaly" if index % 3 else "normal", f"s3://b/{index}")
        )
    (features,) = cpu_session(feature_graph(size).SerializeToString()).run(
        ["features"], {"image": network_input(np.asarray(pictures[0]))}
    )
    memory = features[0].reshape(features.shape[1], -1).T.copy()
    model = tmp_path / "model.onnx"
    model.write_bytes(scoring_graph(size, memory, Decision(memory_only(152), 20.0, 0.3)).SerializeToString())
    alone = cpu_session(str(model))
    expected = [float(alone.run(["score"], {"image": network_input(np.asarray(p))})[0][0]) for p in pictures]

    predictions, _ = trainer.evaluate_served(str(model), samples, size, None, [])
    assert [p["source_ref"] for p in predictions] == [s.source_ref for s in samples]
    assert [p["label"] for p in predictions] == [s.label for s in samples]
    assert [p["score"] for p in predictions] == pytest.approx(expected, rel=1e-5)
    assert len(set(expected)) == len(expected)  # distinct scores: an order mixed up would show
    monkeypatch.setattr(trainer, "EVALUATION_WORKERS", 1)
    again, _ = trainer.evaluate_served(str(model), samples, size, None, [])
    assert [p["source_ref"] for p in again] == [s.source_ref for s in samples]
    assert [p["score"] for p in again] == pytest.approx(expected, rel=1e-5)


def saved_samples(folder: Path, make, count: int, first_anomalous: int, name: str) -> list[Sample]:
    """`make(rng, anomalous)`'s pictures and masks (#FF0000: class `name`) number 0 to count - 1, saved in
    `folder`; from `first_anomalous` on they are anomalous."""
    samples = []
    for index in range(count):
        anomalous = index >= first_anomalous
        image, mask = make(np.random.default_rng(index), anomalous)
        image.save(folder / f"{index}.png")
        if anomalous:
            mask.save(folder / f"{index}-mask.png")
        samples.append(Sample(str(folder / f"{index}.png"), "anomaly" if anomalous else "normal", str(index),
                              str(folder / f"{index}-mask.png") if anomalous else None,
                              {"#FF0000": name} if anomalous else {}))  # fmt: skip
    return samples


def painted(sample: Sample) -> np.ndarray:
    """Where a sample's mask paints its class (red on white)."""
    with Image.open(str(sample.mask)) as mask:
        return np.asarray(mask.convert("RGB"))[:, :, 1] == 0


def small_bracket(rng: np.random.Generator, stained: bool) -> tuple[Image.Image, Image.Image]:
    """A small bracket at any angle and a little off centre on a plain white 192x192 frame, and its mask;
    a stained one has a red blot on its long arm."""
    angle, (dx, dy) = float(rng.uniform(0, 360)), rng.uniform(-8, 8, 2)
    part, blot = Image.new("L", (192, 192), 0), Image.new("L", (192, 192), 0)
    ImageDraw.Draw(part).rectangle((76, 66, 96, 126), fill=255)
    ImageDraw.Draw(part).rectangle((76, 108, 126, 126), fill=255)
    if stained:
        y = float(rng.uniform(72, 92))
        ImageDraw.Draw(blot).ellipse((79, y, 93, y + 14), fill=255)

    def placed(layer: Image.Image) -> Image.Image:
        turned = layer.rotate(angle, resample=Image.BILINEAR)
        return turned.transform(turned.size, Image.AFFINE, (1, 0, -dx, 0, 1, -dy))

    image = Image.new("RGB", (192, 192), (250, 250, 250))
    image.paste(Image.new("RGB", (192, 192), (70, 75, 90)), (0, 0), placed(part))
    image.paste(Image.new("RGB", (192, 192), (200, 40, 40)), (0, 0), placed(blot))
    mask = Image.new("RGB", (192, 192), (255, 255, 255))
    mask.paste(
        Image.new("RGB", (192, 192), (255, 0, 0)), (0, 0), placed(blot).point(lambda v: 255 * (v > 127))
    )
    return image, mask


def test_small_parts_are_aligned_in_a_window_and_their_masks_drawn_where_they_were(tmp_path):
    """Parts that leave most of a plain frame empty are seen through a window around them, upright; the
    served model takes whole photos and draws its masks back where the defects are in them."""
    from server.inference.bundle import read_bundle
    from server.inference.runtime import ModelRunner

    samples = saved_samples(tmp_path, small_bracket, 36, 20, "stain")
    truths = {index: painted(samples[index]) for index in range(20, 36)}
    result = train(Job(samples[0::2], samples[1::2], (192, 192), str(tmp_path / "model")))
    assert "aligned parts" in result.selection["Chosen"]["Candidate"], result.selection
    description = read_bundle(tmp_path / "model")
    window = description.align["window"]
    assert window[0] * window[1] < 0.6 * 192 * 192  # the part's surroundings, not the frame
    runner = ModelRunner(tmp_path / "model", description, threads=1)
    overlaps = []
    for index in (21, 23, 25, 27, 29):  # held-out stained parts
        with Image.open(tmp_path / f"{index}.png") as image:
            prediction = runner.predict(image.convert("RGB"))
        assert prediction.is_anomalous and prediction.class_map.shape == (192, 192)
        found = prediction.class_map == 1
        overlaps.append((found & truths[index]).sum() / (found | truths[index]).sum())
    assert np.mean(overlaps) > 0.5, overlaps
    with Image.open(tmp_path / "1.png") as image:
        assert not runner.predict(image.convert("RGB")).is_anomalous


def test_camera_sized_photos_are_read_reduced_in_training_and_when_served(tmp_path, monkeypatch):
    """Photos at least twice REDUCE_TO on their longer side are read reduced by a whole factor (here 2,
    REDUCE_TO patched to 96 for 192 px photos): the aligned window, the masks and the working sizes are
    the reduced picture's, the bundle says so (reduce_to) and keeps the photos' own size, the served model
    scores the whole photos as the trainer scored them and draws its masks back at their own size; each
    training mask is decoded once."""
    from server.inference.bundle import read_bundle
    from server.inference.runtime import ModelRunner

    monkeypatch.setattr(pictures, "REDUCE_TO", 96)
    masks_read = recorded_reads(monkeypatch, "_decode_mask")
    samples = saved_samples(tmp_path, small_bracket, 36, 20, "stain")
    truths = {index: painted(samples[index]) for index in range(20, 36)}
    result = train(Job(samples[0::2], samples[1::2], (192, 192), str(tmp_path / "model")))
    assert "aligned parts" in result.selection["Chosen"]["Candidate"], result.selection
    description = read_bundle(tmp_path / "model")
    assert description.reduce_to == 96 and (description.image_width, description.image_height) == (192, 192)
    assert max(description.align["window"]) <= 96  # found in the reduced picture
    training_masks = [sample.mask for sample in samples[0::2] if sample.mask is not None]
    assert sorted(path for path in masks_read if path in training_masks) == sorted(training_masks)

    runner = ModelRunner(tmp_path / "model", description, threads=1)
    scores = {p["source_ref"]: p["score"] for p in result.predictions}
    overlaps = []
    for sample in samples[1::2]:
        with Image.open(sample.path) as image:
            prediction = runner.predict(image.convert("RGB"))
        assert prediction.score == pytest.approx(scores[sample.source_ref], abs=1e-5)
        if sample.label == "anomaly":
            assert prediction.class_map.shape == (192, 192)
            index = int(sample.source_ref)
            found = prediction.class_map == 1
            overlaps.append((found & truths[index]).sum() / (found | truths[index]).sum())
    assert result.metrics["ROCAUC"] >= 0.95 and np.mean(overlaps) > 0.4, overlaps


def test_masks_are_drawn_at_the_pictures_own_size_when_it_is_finer_than_the_working_size(
    tmp_path, monkeypatch
):
    """Where the working size halves the pictures and the defects are thin, the segmentation draws its masks
    at their own size (a second input, the picture again at that size): a scratch two pixels wide is one at
    the working size; defects as wide as the picture are drawn from the working size.
    The same project drawn at the working size finds the scratches' pixels less well; DetectAnomalies'
    runner feeds both inputs and draws the same masks as the evaluation."""
    from server.inference.bundle import read_bundle
    from server.inference.runtime import ModelRunner
    from server.training.segmentation import mask_classes

    monkeypatch.setattr(trainer, "LONG_SIDE", 64)  # the 128x128 pictures worked at half their size...
    monkeypatch.setattr(trainer, "HIGH_SIDE_IMAGES", 0)  # ...and never at their own
    samples = [metal_sample(tmp_path, index, scratched=index >= 36) for index in range(60)]

    def trained(name: str):
        result = train(Job(samples[0::2], samples[1::2], (128, 128), str(tmp_path / name)))
        (scratch,) = result.metrics["PixelAnomalyClassMetrics"]
        return scratch["AIOU"], read_bundle(tmp_path / name), result.selection["Chosen"]

    finer, description, chosen = trained("finer")
    assert description.input.width == 64 and description.detail_input is not None
    assert (description.detail_input.width, description.detail_input.height) == (128, 128)
    assert chosen["MaskSize"] == "128x128"  # on record in the evaluation and the training log
    wide = [replace(sample, mask=str(tmp_path / "wide.png")) if sample.mask else sample for sample in samples]
    Image.new("RGB", (128, 128), (0, 0, 255)).save(tmp_path / "wide.png")  # the whole picture, say
    assert (
        trainer.finer_masks(Job(wide, [], (128, 128), ""), [("scratch", "#0000FF")], (128, 128), (64, 64))
        is None
    )
    monkeypatch.setattr(trainer, "DETAIL_GAIN", 1e9)  # never finer than the working size
    working, plain, chosen = trained("working")
    assert plain.detail_input is None and "MaskSize" not in chosen
    assert finer > 0.75 and finer > working + 0.3, (finer, working)  # measured: 0.92 against 0.29

    runner = ModelRunner(tmp_path / "finer", description, threads=1)
    hits = misses = 0
    for sample in samples[37::2]:  # held-out scratched pictures
        with Image.open(sample.path) as image:
            prediction = runner.predict(image.convert("RGB"))
        truth = mask_classes(sample, [("scratch", "#0000FF")], (128, 128)) == 1
        found = prediction.class_map == 1
        hits, misses = hits + (found & truth).sum(), misses + (found ^ truth).sum()
    assert hits / (hits + misses) == pytest.approx(finer, abs=0.05)


@pytest.mark.parametrize(
    ("image_size", "working", "expected"),
    [((512, 512), (320, 320), (512, 512)), ((1280, 960), (320, 256), (640, 480)), ((480, 640), (256, 320), (480, 640)),
     ((352, 352), (320, 320), None), ((128, 128), (128, 128), None), ((2000, 100), (320, 32), (640, 32))],
)  # fmt: skip
def test_masks_are_drawn_at_the_images_own_size_up_to_the_largest_working_size(image_size, working, expected):
    """Never enlarged, at most HIGH_SIDE on the longer side, and only where that is DETAIL_GAIN times finer."""
    assert trainer.detail_size(image_size, working) == expected


def camera(rng: np.random.Generator, scene: np.ndarray) -> Image.Image:
    """A photo of `scene` (float RGB, 0..255): exposure, a colour cast, light falling off to one side and
    to the corners, sensor noise, each different from photo to photo."""
    height, width, _ = scene.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    xs, ys = xs / width - 0.5, ys / height - 0.5
    side = rng.uniform(0, 2 * np.pi)
    ramp = 1 + rng.uniform(0.0, 0.25) * (xs * np.cos(side) + ys * np.sin(side))
    vignette = 1 - rng.uniform(0.0, 0.25) * (xs**2 + ys**2)
    light = (rng.uniform(0.85, 1.12) * ramp * vignette)[..., None] * (1 + rng.uniform(-0.04, 0.04, 3))
    noisy = scene * light + rng.normal(0, rng.uniform(2, 5), scene.shape)
    return Image.fromarray(noisy.clip(0, 255).astype(np.uint8))


def plate(rng: np.random.Generator, bitten: bool = False) -> Image.Image:
    """A round plate with a notch and two holes, most of a 128 px frame, at any angle on a plain background;
    a bitten one lacks a piece of its rim."""
    part = Image.new("L", (128, 128), 0)
    draw = ImageDraw.Draw(part)
    draw.ellipse((12, 12, 116, 116), fill=255)
    draw.rectangle((100, 58, 118, 70), fill=0)  # the notch: which way is up
    draw.ellipse((52, 52, 76, 76), fill=0)
    draw.ellipse((28, 30, 40, 42), fill=0)
    if bitten:
        where = float(rng.uniform(0.5, 2 * np.pi - 0.5))  # anywhere on the rim but the notch
        x, y = 64 + 52 * np.cos(where), 64 + 52 * np.sin(where)
        draw.ellipse((x - 7, y - 7, x + 7, y + 7), fill=0)
    turned = part.rotate(float(rng.uniform(0, 360)), resample=Image.BILINEAR)
    cover = np.asarray(turned, np.float32)[..., None] / 255
    return camera(rng, np.array([225.0, 225, 218]) * (1 - cover) + np.array([200.0, 110, 40]) * cover)


def test_aligned_parts_are_scored_where_the_part_lies(tmp_path):
    """Around an aligned part lie background and the corners its turn uncovers, filled with one colour,
    both changing with each photo's light: only the cells where normal parts lie are scored (the share is on
    record), which leaves the normal photos' scores well below the bitten ones' (measured at the pictures'
    own size: the highest normal 0.17 and the lowest bitten 0.84; scoring every cell, 0.48 and 0.80; the
    model chosen now works them enlarged, whose finer cells hug the plate closer: 0.13 and 0.90, a share of
    0.70 against 0.86)."""
    normal = [plate(np.random.default_rng(index)) for index in range(40)]
    bitten = [plate(np.random.default_rng(1000 + index), bitten=True) for index in range(40)]
    paths = {}
    for label, images in (("normal", normal), ("anomaly", bitten)):
        (tmp_path / label).mkdir()
        paths[label] = []
        for index, image in enumerate(images):
            image.save(tmp_path / label / f"{index}.png")
            paths[label].append(tmp_path / label / f"{index}.png")
    result = train(job(tmp_path, paths["normal"], paths["anomaly"], (128, 128)))
    chosen = result.selection["Chosen"]
    assert "aligned parts" in chosen["Candidate"] and 0.6 < chosen["PartArea"] < 0.95, chosen
    scores = {label: [p["score"] for p in result.predictions if p["label"] == label] for label in paths}
    assert max(scores["normal"]) < 0.3 and min(scores["anomaly"]) > 0.7, scores


def biscuit(rng: np.random.Generator, broken: bool) -> tuple[Image.Image, Image.Image]:
    """A biscuit on a grainy tray that darkens towards its top edge, and its mask: a broken one lacks a bite
    out of its rim, which the mask paints (the missing piece, as people label it: background in the
    picture)."""
    tray = 60 + rng.normal(0, 7, (160, 160, 1)) * np.ones(3) + rng.uniform(-8, 8)
    tray[:20] -= 30
    image = Image.fromarray(tray.clip(0, 255).astype(np.uint8))
    x, y, radius = *rng.uniform(70, 90, 2), rng.uniform(42, 50)
    box = (x - radius, y - radius, x + radius, y + radius)
    shape = Image.new("L", (160, 160), 0)
    ImageDraw.Draw(shape).ellipse(box, fill=255)
    mask = Image.new("RGB", (160, 160), (255, 255, 255))
    if broken:
        angle, bite = rng.uniform(0, 2 * np.pi), radius * rng.uniform(0.6, 0.8)
        bx, by = x + radius * np.cos(angle), y + radius * np.sin(angle)
        ImageDraw.Draw(shape).ellipse((bx - bite, by - bite, bx + bite, by + bite), fill=0)
        gone = Image.new("L", (160, 160), 0)
        ImageDraw.Draw(gone).ellipse((bx - bite, by - bite, bx + bite, by + bite), fill=255)
        whole = Image.new("L", (160, 160), 0)
        ImageDraw.Draw(whole).ellipse(box, fill=255)
        mask.paste((255, 0, 0), (0, 0), ImageChops.multiply(gone, whole))
    dough = (np.array([200, 155, 100]) * rng.uniform(0.9, 1.1) + rng.normal(0, 9, (160, 160, 1))).clip(0, 255)
    image.paste(Image.fromarray(dough.astype(np.uint8)), (0, 0), shape)
    return image.filter(ImageFilter.GaussianBlur(0.6)), mask


def test_missing_pieces_are_painted_from_the_parts_outline(tmp_path, monkeypatch):
    """Masks that paint a missing piece (background in the picture) are learnt with the gap map: where
    background shows inside the part's hull. The refinement learns to count it towards the class; on
    these clean pictures the features find the bites about as well without it (IoU 0.836 and 0.832 at this
    commit; on the cookies' photographs, docs/quality.md, 0.677 -> 0.696)."""
    from server.inference.bundle import read_bundle
    from server.inference.runtime import ModelRunner
    from server.training import segmentation

    samples = saved_samples(tmp_path, biscuit, 48, 24, "broken")
    with_gap = train(Job(samples[0::2], samples[1::2], (160, 160), str(tmp_path / "gap")))
    description = json.loads((tmp_path / "gap" / "model.json").read_text())
    assert description["gap_input"] == {"name": "part_gap", "width": 160, "height": 160}
    assert description["fill_part_gaps"] is True
    assert with_gap.selection["Chosen"]["PartGapShare"] > 0.4  # the hull cuts the bites' round ends off
    monkeypatch.setattr(segmentation, "GAP_SHARE", 1.1)  # never enough: the same trainer without the map
    without = train(Job(samples[0::2], samples[1::2], (160, 160), str(tmp_path / "plain")))
    assert not {"gap_input", "fill_part_gaps"} & set(
        json.loads((tmp_path / "plain" / "model.json").read_text())
    )
    (found,), (plain,) = (
        with_gap.metrics["PixelAnomalyClassMetrics"],
        without.metrics["PixelAnomalyClassMetrics"],
    )
    assert found["AIOU"] > 0.75 and found["AIOU"] > plain["AIOU"] - 0.02, (found, plain)
    graph = onnx.load(str(tmp_path / "gap" / "model.onnx"))
    (weights,) = [
        numpy_helper.to_array(item) for item in graph.graph.initializer if item.name == "refine_gap_w"
    ]
    assert weights[1, 0] - weights[0, 0] > 1.0  # background inside the hull leans to the class: logits
    # DetectAnomalies' runtime computes the gap map itself and draws the masks the trainer measured, each
    # painted piece filled across the gap within its hull; the same model without the fill paints less
    bundle = read_bundle(tmp_path / "gap")
    runner = ModelRunner(tmp_path / "gap", bundle, threads=1)
    unfilled = ModelRunner(tmp_path / "gap", replace(bundle, fill_part_gaps=False), threads=1)
    overlaps, gains = [], []
    for sample in samples[25::2]:
        with Image.open(sample.path) as image:
            found = runner.predict(image.convert("RGB")).class_map == 1
            less = unfilled.predict(image.convert("RGB")).class_map == 1
        truth = painted(sample)
        overlaps.append((found & truth).sum() / (found | truth).sum())
        assert not (less & ~found).any()  # the fill only adds
        gains.append(overlaps[-1] - (less & truth).sum() / (less | truth).sum())
    assert np.mean(overlaps) > 0.7, overlaps
    assert np.mean(gains) >= 0 and max(gains) > 0, gains


def pad_rows(rng: np.random.Generator, missing: bool) -> Image.Image:
    """A fixtured board with rows of 9 to 14 pads one cell (8 px) apart, shifted by a pixel or two each time;
    a defect is a row's end pad missing, which looks like the row one pitch shorter (and like the end of
    the row above it)."""
    image = Image.new("RGB", (256, 192), (25, 85, 45))
    draw = ImageDraw.Draw(image)
    dx, dy = rng.integers(-2, 3, 2)
    gone = int(rng.integers(0, 6)) if missing else -1
    for row in range(6):
        y = 40 + row * 24 + dy
        for column in range(9 + row):
            if row == gone and column == 8 + row:
                continue
            x = 70 + column * 8 + dx
            draw.ellipse((x - 2.5, y - 2.5, x + 2.5, y + 2.5), fill=(210, 180, 90))
    noisy = np.asarray(image, np.float32) + rng.normal(0, 5, (192, 256, 3))
    return Image.fromarray(noisy.clip(0, 255).astype(np.uint8))


def test_a_local_memory_may_match_in_place_only(tmp_path):
    """Where a match one cell away accepts the defect (a row of pads one pitch shorter looks like the row
    shifted by a cell), cross-validation prefers the local memory matched in place (measured at this
    commit: held-out 0.878 one cell away, 0.967 in place; test AUROC 0.989)."""
    normal = folder(tmp_path, "normal", lambda rng: pad_rows(rng, False), 30)
    anomalous = folder(tmp_path, "anomaly", lambda rng: pad_rows(rng, True), 24, start=100)
    result = train(job(tmp_path, normal, anomalous, (256, 192)))
    chosen = result.selection["Chosen"]
    assert chosen["Candidate"].endswith("local (position-aware) memory matched in place"), result.selection
    reach_one = [
        c
        for c in result.selection["Candidates"]
        if c["Candidate"] == chosen["Candidate"][: -len(" matched in place")]
    ]
    assert reach_one and max(reach_one[0]["CrossValidatedROCAUC"].values()) < chosen["CrossValidatedROCAUC"]
    assert result.metrics["ROCAUC"] > 0.9 and result.metrics["F1Score"] > 0.8, result.metrics


def two_surfaces(rng: np.random.Generator, anomalous: bool, mixed: bool) -> tuple[Image.Image, Image.Image]:
    """Ribbed sheet (ribs 8 px apart), or with `mixed` the same with one half knurled (a 4 px chequer: a
    second finish of the part); anomalous ones with a dark pit on the ribbed half, and its mask (red)."""
    y, x = np.mgrid[0:128, 0:128]
    ribbed = 128 + 50 * np.sign(np.sin(2 * np.pi * (y + 0.5) / 8))
    knurled = 128 + 50 * (((x // 4 + y // 4) % 2) * 2 - 1)
    right = bool(rng.integers(2))  # the knurled half's side
    pixels = np.where((x >= 64) == right, knurled, ribbed) if mixed else ribbed
    mask = Image.new("RGB", (128, 128), (255, 255, 255))
    if anomalous:
        cx, cy = int(rng.integers(14, 42)) + (0 if right else 64), int(rng.integers(14, 114))
        pit = (x - cx) ** 2 + (y - cy) ** 2 <= 36
        pixels = np.where(pit, 30, pixels)
        ImageDraw.Draw(mask).ellipse((cx - 6, cy - 6, cx + 6, cy + 6), fill=(255, 0, 0))
    noisy = pixels + rng.normal(0, 6, (128, 128))
    return Image.fromarray(np.repeat(noisy.clip(0, 255).astype(np.uint8)[..., None], 3, axis=2)), mask


def test_clear_patches_are_those_away_from_the_mask(tmp_path, monkeypatch):
    """An anomalous image's clear patches: every cell at least CLEAR_MARGIN cells from what its mask paints."""
    from server.training.selection import Images
    from server.training.trainer import CLEAR_MARGIN, clear_patches

    mask = Image.new("RGB", (128, 96), (255, 255, 255))
    ImageDraw.Draw(mask).rectangle((40, 40, 47, 47), fill=(255, 0, 0))  # the cell at row 5, column 5
    mask.save(tmp_path / "m.png")
    pit = Sample("a.png", "anomaly", "a", str(tmp_path / "m.png"), {"#FF0000": "pit"})
    rows, cols = 12, 16
    # each patch holds its cell's number
    cells = np.arange(rows * cols, dtype=np.float32)[:, None].repeat(3, axis=1)
    unseen = np.zeros((0, 3), np.float32)  # a large project's comparison looks at some anomalies only
    images = Images([cells, cells, unseen], [], np.array([False, True, True]), np.zeros(3, int), (rows, cols))
    clear = clear_patches(images, [Sample("n.png", "normal", "n"), pit, pit], [("pit", "#FF0000")], (128, 96))
    assert list(clear) == [1]
    kept = clear[1][:, 0].astype(int)
    row, col = kept // cols, kept % cols
    assert (np.maximum(abs(row - 5), abs(col - 5)) > CLEAR_MARGIN).all()
    assert len(kept) == rows * cols - (2 * CLEAR_MARGIN + 1) ** 2
    monkeypatch.setattr(trainer, "CLEAR_MARGIN", 0)  # the painted cell alone left out
    assert (
        len(trainer.clear_patches(images, [pit, pit, pit], [("pit", "#FF0000")], (128, 96))[1])
        == rows * cols - 1
    )


def test_the_memory_keeps_the_normal_surface_around_labelled_defects(tmp_path, monkeypatch):
    """The normal training pictures show one finish; a second one shows only on the anomalous pictures, away
    from their masked pits. The served memory keeps those parts too, so a normal picture with the second
    finish is not taken for an anomaly; without them it is."""

    def sample(index: int, anomalous: bool, mixed: bool) -> Sample:
        image, mask = two_surfaces(np.random.default_rng(index), anomalous, mixed)
        return saved_sample(tmp_path, index, image, mask if anomalous else None, {"#FF0000": "pit"})

    train_set = [sample(i, False, False) for i in range(12)] + [sample(i, True, True) for i in range(12, 24)]
    test_set = [sample(i, False, i % 2 == 0) for i in range(24, 36)] + [
        sample(i, True, True) for i in range(36, 48)
    ]
    kept = train(Job(train_set, test_set, (128, 128), str(tmp_path / "kept")))
    monkeypatch.setattr(trainer, "clear_patches", lambda *args: {})  # the memory of the normal images alone
    normals_only = train(Job(train_set, test_set, (128, 128), str(tmp_path / "normals")))
    flagged = {
        name: sum(p["anomalous"] for p in result.predictions if p["label"] == "normal")
        for name, result in (("kept", kept), ("normals only", normals_only))
    }
    assert flagged["kept"] <= 1 and flagged["normals only"] >= 4, flagged  # measured: 0 and 6 of the 12
    assert kept.metrics["ROCAUC"] > normals_only.metrics["ROCAUC"] + 0.2, (kept.metrics, normals_only.metrics)
    assert kept.metrics["F1Score"] > normals_only.metrics["F1Score"], (kept.metrics, normals_only.metrics)
