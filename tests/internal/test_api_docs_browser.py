"""/docs in a real headless browser that can reach nothing but loopback: Swagger UI loads from this server,
and DetectAnomalies called from it with an image file answers. Skipped where selenium or chromium and
chromedriver are missing."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.support.live import host, import_model
from tests.support.onnx_models import classifier_bundle, image_bytes, solid

webdriver = pytest.importorskip("selenium.webdriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs chromium and chromedriver")


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,2000",
                     "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    yield driver
    driver.quit()


def test_detect_anomalies_from_the_docs_page(emulator, http, lfv, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as loaded
    from selenium.webdriver.support.ui import WebDriverWait

    import_model(http, "line", classifier_bundle(tmp_path / "b"))
    host(lfv, "line", "1")
    picture = tmp_path / "red.png"
    picture.write_bytes(image_bytes(solid(96, 80, (250, 0, 0))))
    browser.get(f"{emulator.url}/docs#/LookoutVision/DetectAnomalies")
    wait = WebDriverWait(browser, 30)
    operation = wait.until(
        loaded.presence_of_element_located((By.ID, "operations-LookoutVision-DetectAnomalies"))
    )
    operation.find_element(By.CSS_SELECTOR, "button.try-out__btn").click()
    project, version = wait.until(
        lambda _: operation.find_elements(By.CSS_SELECTOR, ".parameters input[type=text]")
    )
    project.send_keys("line")
    version.send_keys("1")
    operation.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(picture))
    operation.find_element(By.CSS_SELECTOR, "button.execute").click()
    answer = wait.until(
        lambda _: operation.find_element(By.CSS_SELECTOR, ".live-responses-table .microlight").text or None
    )
    result = json.loads(answer)["DetectAnomalyResult"]
    assert result["IsAnomalous"] is True and result["Source"] == {"Type": "direct"}
    requested = {
        json.loads(entry["message"])["message"]["params"]["request"]["url"]
        for entry in browser.get_log("performance")
        if json.loads(entry["message"])["message"]["method"] == "Network.requestWillBeSent"
    }
    assert requested and all(url.startswith((emulator.url, "data:")) for url in requested), requested
