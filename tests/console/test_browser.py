"""The console in a real headless chromium that can reach nothing but the server on loopback.

One flow, as a person would click through it: create a project, import a dataset from the dataset
root, look at its thumbnails and masks, relabel an image, host a model, try an image, stop the model.
"""

from __future__ import annotations

import pytest

from tests.console.browser import MISSING, chromium, foreign_requests, loaded_images, wait_until
from tests.console.parts import plate
from tests.support.live import import_model
from tests.support.onnx_models import segmenter_bundle

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@pytest.fixture
def browser():
    with chromium() as driver:
        yield driver


def count(driver, name: str) -> int:
    return int(driver.find_element("id", f"count-{name}").text)


def submit(driver, form_id: str, **fields: str) -> None:
    from selenium.webdriver.support.ui import Select

    form = driver.find_element("id", form_id)
    for name, value in fields.items():
        field = form.find_element("name", name)
        if field.tag_name == "select":
            Select(field).select_by_value(value)
        else:
            field.clear()
            field.send_keys(value)
    form.find_element("css selector", "button[type=submit]").click()


def test_a_person_walks_through_the_console(browser, web, console_server, tmp_path):
    url = console_server.url
    browser.get(f"{url}/")
    assert browser.current_url == f"{url}/console/"
    assert browser.find_element("tag name", "h1").text == "Projects"

    # A project; a bad name gets the API's own message
    submit(browser, "create-project", name="bad/name")
    wait_until(  # the answer is a new page: on a loaded machine it may come after the click returns
        browser,
        lambda d: "ValidationException" in d.find_element("css selector", ".problem").text,
        what="problem",
    )
    submit(browser, "create-project", name="plates")
    wait_until(browser, lambda d: d.find_element("tag name", "h1").text == "Project plates")

    # A dataset from a manifest below the dataset root
    submit(browser, "create-dataset", manifest="s3://lookoutvision-local/plates/manifest.json")
    wait_until(
        browser, lambda d: d.find_element("id", "dataset-status").text == "CREATE_COMPLETE", what="import"
    )
    assert (count(browser, "total"), count(browser, "normal"), count(browser, "anomaly")) == (10, 6, 4)
    wait_until(browser, lambda d: loaded_images(d, "#grid img.image") == 10, what="thumbnails")
    wait_until(browser, lambda d: loaded_images(d, "#grid img.mask") == 4, what="mask overlays")
    overlay = browser.find_element("css selector", "#grid img.mask")
    assert overlay.value_of_css_property("position") == "absolute"

    # Filters
    browser.find_element("link text", "Anomaly").click()
    wait_until(
        browser, lambda d: len(d.find_elements("css selector", "#grid .tile")) == 4, what="anomaly filter"
    )
    browser.find_element("link text", "class: scratch").click()
    wait_until(
        browser, lambda d: "on" in d.find_element("link text", "class: scratch").get_attribute("class")
    )
    assert len(browser.find_elements("css selector", "#grid .tile")) == 4
    browser.find_element("link text", "Normal").click()
    wait_until(
        browser, lambda d: len(d.find_elements("css selector", "#grid .tile")) == 6, what="normal filter"
    )

    # Relabel a normal image: the counts follow once UpdateDatasetEntries is done
    tile = browser.find_element("css selector", "#grid .tile[data-label='normal']")
    tile.find_element("css selector", "button[value='anomaly']").click()
    wait_until(
        browser, lambda d: d.find_element("id", "dataset-status").text == "UPDATE_COMPLETE", what="update"
    )
    wait_until(browser, lambda d: count(d, "anomaly") == 5 and count(d, "normal") == 5, what="counts")
    assert len(browser.find_elements("css selector", "#grid .tile")) == 5  # still the normal filter

    # Upload an image into the dataset, labelled normal
    picture = tmp_path / "new-plate.png"
    picture.write_bytes(plate(99)[0])
    browser.find_element("css selector", "#upload input[type=file]").send_keys(str(picture))
    submit(browser, "upload", label="normal")
    wait_until(browser, lambda d: count(d, "total") == 11 and count(d, "normal") == 6, what="upload counts")
    assert "1 image(s) added" in browser.find_element("css selector", ".notice").text

    # A model, imported through the emulator's own endpoint (training would take minutes)
    bundle = segmenter_bundle(tmp_path / "bundle", (128, 128))
    version = import_model(web, "plates", bundle, description="segmenter")["ModelVersion"]
    browser.get(f"{url}/console/projects/plates/models/{version}")
    assert browser.find_element("id", "model-status").text == "TRAINED"
    assert "no evaluation" in browser.find_element("id", "evaluation-note").text
    submit(browser, "start", min_units="1")
    wait_until(browser, lambda d: d.find_element("id", "model-status").text == "HOSTED", what="hosting")

    # Try an image: a plate with a scratch
    browser.find_element("id", "try-link").click()
    scratched = tmp_path / "scratched.png"
    scratched.write_bytes(plate(5, scratch=True)[0])
    browser.find_element("css selector", "#try input[type=file]").send_keys(str(scratched))
    browser.find_element("css selector", "#try button[type=submit]").click()
    wait_until(browser, lambda d: d.find_element("id", "verdict").text == "anomaly", what="detect result")
    assert loaded_images(browser, "#tried-image") == 1 and loaded_images(browser, "#tried-mask") == 1
    legend = [row.text.lower() for row in browser.find_elements("css selector", "#legend tbody tr")]
    assert legend[0].startswith("background #ffffff") and any(
        row.startswith("scratch #ff0000") for row in legend
    )
    raw = browser.find_element("id", "raw").text
    assert '"IsAnomalous": true' in raw and '"AnomalyMask"' in raw
    assert foreign_requests(browser, url) == []

    # Stop the model
    browser.get(f"{url}/console/projects/plates/models/{version}")
    browser.find_element("css selector", "#stop button").click()
    wait_until(browser, lambda d: d.find_element("id", "model-status").text == "TRAINED", what="stopping")
