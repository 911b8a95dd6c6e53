from __future__ import annotations

import re

import pytest

from server.inference.bundle import BundleError, check_against_graph, make_class, parse_description

BASE = {"task": "classification", "input": {"name": "image"}, "outputs": {"score": "score"}}


ALIGN = {"background": [255, 255, 255], "tolerance": 40.0, "reference": ["0" * 360] * 48}


def parse(**changes):
    return parse_description({**BASE, **changes})


def test_defaults():
    description = parse()
    assert description.input.layout == "NCHW" and description.input.scale == 255.0
    assert description.threshold == 0.5 and description.classes == ()
    assert parse_description(description.to_json()) == description


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"format": "other/2"}, "format: expected"),
        ({"input": {"name": "image", "layout": "CHW"}}, "input.layout"),
        ({"input": {"name": "image", "width": 10}}, "give both or neither"),
        ({"input": {"name": "image", "std": [1, 0, 1]}}, "must be positive"),
        ({"input": {"name": "image", "mean": [0, 0]}}, "list of 3 numbers"),
        ({"outputs": {"score": "s", "heatmap": "h"}}, "unknown keys ['heatmap']"),
        ({"outputs": {}}, "name a 'score' output"),
        ({"threshold": "high"}, "threshold: expected a number"),
        ({"image_width": 5000, "image_height": 10}, "1..4096"),
        ({"score_normalization": {"threshold": 1, "minimum": 2, "maximum": 1}}, "maximum must be greater"),
        ({"task": "segmentation", "outputs": {"score": "s", "mask": "m"}, "classes": [
            {"name": "a", "color": "#FF0000"}, {"name": "b", "color": "#00FF00"}]}, "exactly one anomaly class"),
        ({"task": "segmentation", "outputs": {"score": "s", "mask": "m", "class_map": "c"},
          "classes": [{"name": "a", "color": "#FF0000"}]}, "not both"),
        ({"classes": [{"name": "a", "color": "#FF0000"}, {"name": "a", "color": "#00FF00"}]}, "unique"),
        ({"classes": [{"name": "Background", "color": "#FF0000"}]}, "unlabelled area"),
        ({"align": {**ALIGN, "window": [120]}}, "align.window: expected [width, height]"),
        ({"align": {**ALIGN, "window": [120, 0]}}, "align.window: expected [width, height]"),
        ({"align": {**ALIGN, "window": [120, True]}}, "align.window: expected [width, height]"),
        ({"align": {**ALIGN, "window": "120x80"}}, "align.window: expected [width, height]"),
        ({"detail_input": "detail"}, "detail_input: expected an object"),
        ({"detail_input": {"name": "detail", "width": 64}}, "detail_input.width and detail_input.height"),
        ({"detail_input": {"name": "image", "width": 64, "height": 64}}, "already input.name"),
        ({"detail_input": {"name": "detail", "width": 64, "height": 64, "scale": 2}}, "unknown keys ['scale']"),
        ({"detail_input": {"name": "detail", "width": 0, "height": 64}}, "detail_input.width"),
        ({"gap_input": [1, 2]}, "gap_input: expected an object"),
        ({"gap_input": {"name": "gap", "height": 64}}, "gap_input.width and gap_input.height"),
        ({"gap_input": {"name": "image", "width": 64, "height": 64}}, "already input.name"),
        ({"detail_input": {"name": "detail", "width": 64, "height": 64},
          "gap_input": {"name": "detail", "width": 64, "height": 64}}, "already detail_input.name"),
        ({"gap_input": {"name": "gap", "width": 64, "height": 64, "channels": 1}}, "unknown keys ['channels']"),
        ({"reduce_to": 0}, "reduce_to: expected an integer"),
        ({"reduce_to": "640"}, "reduce_to: expected an integer"),
        ({"reduce_to": 640.5}, "reduce_to: expected an integer"),
        ({"fill_part_gaps": "yes"}, "fill_part_gaps: expected true or false"),
        ({"fill_part_gaps": 1}, "fill_part_gaps: expected true or false"),
        ({"fill_part_gaps": True}, "only a segmentation model"),
    ],
)  # fmt: skip
def test_problems_are_named(changes, fragment):
    with pytest.raises(BundleError) as caught:
        parse(**changes)
    assert fragment in str(caught.value)


def test_gaps_are_filled_only_where_a_segmentation_bundle_says():
    assert not parse().fill_part_gaps
    segmentation = {"task": "segmentation", "outputs": {"score": "s", "class_map": "c"},
                    "classes": [{"name": "a", "color": "#FF0000"}]}  # fmt: skip
    assert not parse(**segmentation).fill_part_gaps
    described = parse(**segmentation, fill_part_gaps=True)
    assert described.fill_part_gaps and parse_description(described.to_json()) == described


def test_pictures_are_reduced_only_where_a_bundle_says():
    assert parse().reduce_to is None and parse(reduce_to=640).reduce_to == 640
    assert parse_description(parse(reduce_to=640).to_json()).reduce_to == 640


def test_colours_come_out_upper_case():
    assert make_class("dent", "#a1b2c3").color == "#A1B2C3"


def test_graph_mismatches():
    description = parse(input={"name": "image", "width": 64, "height": 32})
    check_against_graph(description, {"image": [1, 3, 32, 64]}, {"score": [1]})
    with pytest.raises(BundleError, match="the graph takes 32x32"):
        check_against_graph(description, {"image": [1, 3, 32, 32]}, {"score": [1]})
    with pytest.raises(BundleError, match="3 colour channels"):
        check_against_graph(description, {"image": [1, 1, 32, 64]}, {"score": [1]})
    with pytest.raises(BundleError, match="exactly one input"):
        check_against_graph(description, {"image": [1, 3, 32, 64], "other": [1]}, {"score": [1]})


def test_an_alignment_window_is_optional():
    assert "window" not in parse(align=ALIGN).align
    assert parse(align={**ALIGN, "window": [120, 80]}).align["window"] == [120, 80]


def test_a_detail_input_is_a_second_input_of_its_own_size():
    """A graph with a detail input takes exactly the two inputs, the second at detail_input's size."""
    description = parse(input={"name": "image", "width": 64, "height": 32},
                        detail_input={"name": "detail", "width": 128, "height": 64})  # fmt: skip
    assert description.detail_input is not None and description.detail_input.width == 128
    assert parse_description(description.to_json()) == description
    inputs = {"image": [1, 3, 32, 64], "detail": [1, 3, 64, 128]}
    check_against_graph(description, inputs, {"score": [1]})
    with pytest.raises(
        BundleError, match=re.escape("has shape [1, 3, 64, 64]; model.json asks for [1, 3, 64, 128]")
    ):
        check_against_graph(description, {**inputs, "detail": [1, 3, 64, 64]}, {"score": [1]})
    with pytest.raises(BundleError, match=re.escape("must take the inputs input.name and detail_input.name")):
        check_against_graph(description, {"image": [1, 3, 32, 64]}, {"score": [1]})
    with pytest.raises(BundleError, match="exactly one input"):
        check_against_graph(parse(input={"name": "image"}), inputs, {"score": [1]})


def test_a_gap_input_is_one_plane_at_its_own_size():
    """A graph with a gap input (the trainer's masks of missing pieces) takes it beside the image and the
    detail input: one plane at gap_input's size."""
    description = parse(input={"name": "image", "width": 64, "height": 32},
                        detail_input={"name": "detail", "width": 128, "height": 64},
                        gap_input={"name": "part_gap", "width": 128, "height": 64})  # fmt: skip
    assert description.gap_input is not None and description.gap_input.height == 64
    assert parse_description(description.to_json()) == description
    inputs = {"image": [1, 3, 32, 64], "detail": [1, 3, 64, 128], "part_gap": [1, 1, 64, 128]}
    check_against_graph(description, inputs, {"score": [1]})
    with pytest.raises(
        BundleError, match=re.escape("has shape [1, 3, 64, 128]; model.json asks for [1, 1, 64, 128]")
    ):
        check_against_graph(description, {**inputs, "part_gap": [1, 3, 64, 128]}, {"score": [1]})
    with pytest.raises(
        BundleError,
        match=re.escape("must take the inputs input.name and detail_input.name and gap_input.name"),
    ):
        check_against_graph(description, {"image": [1, 3, 32, 64], "detail": [1, 3, 64, 128]}, {"score": [1]})
