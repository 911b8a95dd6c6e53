"""Screenshots of the console for the README, taken by the same headless chromium as the tests.

    PYTHONPATH=. python -m tests.console.screenshots docs/console

Starts moto's S3 server and `serve --demo` with a dataset root of generated plates, adds a dataset to the
demo project, trains a model on it, and photographs the projects page, the dataset grid with its masks,
the trained model's page with its evaluation, and "try an image" on the demo's segmentation model.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import httpx
from PIL import Image, ImageDraw

from lookoutvision_emulator import EmulatorProcess
from tests.conftest import FAKE_CREDENTIALS, free_port
from tests.console.browser import MISSING, chromium, loaded_images, screenshot, wait_until
from tests.console.parts import write_dataset


def scratched_part(path: Path) -> Path:
    """The README's example: a grey part with a red scratch, for the demo's segmentation model."""
    part = Image.new("RGB", (400, 300), (128, 128, 128))
    ImageDraw.Draw(part).line((40, 60, 300, 90), fill=(220, 30, 30), width=8)
    buffer = io.BytesIO()
    part.save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 on a free loopback port, with the bucket the model is trained into."""
    url = f"http://127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", url.rsplit(":", 1)[1]]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, **FAKE_CREDENTIALS})  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/moto-api/", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")  # fmt: skip
        s3.create_bucket(Bucket="models")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def main(target: Path) -> None:
    if MISSING:
        raise SystemExit(MISSING)
    with tempfile.TemporaryDirectory(prefix="console-shots-") as scratch, moto_server() as s3_url:
        root = Path(scratch) / "datasets"
        manifest = write_dataset(root, "plates", normal=20, anomalous=10, size=160)
        arguments = ["--demo", "--dataset-root", str(root)]
        env = {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL_S3": s3_url}
        with (
            EmulatorProcess(Path(scratch) / "data", extra_args=arguments, env=env) as server,
            chromium(1280, 860) as browser,
        ):
            url = f"{server.url}/console"
            browser.get(f"{url}/projects/demo")
            form = browser.find_element("id", "create-dataset")
            form.find_element("name", "manifest").send_keys(manifest)
            form.find_element("css selector", "button[type=submit]").click()
            status = ("id", "dataset-status")
            wait_until(browser, lambda d: d.find_element(*status).text == "CREATE_COMPLETE")
            browser.get(f"{url}/projects/demo")
            form = browser.find_element("id", "create-model")
            form.find_element("name", "bucket").send_keys("models")
            form.find_element("name", "description").send_keys("plates")
            form.find_element("css selector", "button[type=submit]").click()
            model = ("id", "model-status")
            wait_until(browser, lambda d: d.find_element(*model).text == "TRAINED", timeout=600)
            browser.set_window_size(1280, 1180)  # the whole model page, evaluation included
            wait_until(browser, lambda d: loaded_images(d, "#evaluation img.image") == 6)
            screenshot(browser, target / "model.png")
            browser.set_window_size(1280, 860)
            browser.get(f"{url}/")
            screenshot(browser, target / "projects.png")
            browser.get(f"{url}/projects/demo/datasets/train?show=anomaly")
            wait_until(browser, lambda d: loaded_images(d, "#grid img.mask") == 10)
            screenshot(browser, target / "dataset.png")
            browser.get(f"{url}/projects/demo/models/2/try")
            upload = scratched_part(Path(scratch) / "scratched-part.png")
            browser.find_element("css selector", "#try input[type=file]").send_keys(str(upload))
            browser.find_element("css selector", "#try button[type=submit]").click()
            wait_until(browser, lambda d: loaded_images(d, "#tried-mask") == 1)
            browser.set_window_size(1280, 1000)
            screenshot(browser, target / "try.png")
    print(f"screenshots in {target}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/console"))
