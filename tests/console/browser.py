"""Debian's headless chromium, driven by selenium, that can reach nothing but loopback."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
MISSING = (
    None
    if CHROMIUM and CHROMEDRIVER
    else "chromium and chromedriver are not installed (Debian: apt-get install -y chromium chromium-driver)"
)
# Name resolution fails for every host but loopback, and whatever still tries the network goes to a
# proxy where nothing listens (loopback itself is never proxied): the page can reach only this server.
ISOLATION = [
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
]


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A fresh browser with an empty profile; quits (and forgets the profile) afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="console-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in [*FLAGS, *ISOLATION, f"--user-data-dir={profile}", f"--window-size={width},{height}"]:
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
        driver.set_page_load_timeout(60)
        try:
            yield driver
        finally:
            driver.quit()


GONE_NODE = "does not belong to the document"


def wait_until(driver: Any, condition: Callable[[Any], Any], timeout: float = 60.0, what: str = "") -> Any:
    """Waits through the console's own refreshes (elements go stale while a page reloads)."""
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        WebDriverException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    def settled(current: Any) -> Any:
        try:
            return condition(current)
        except WebDriverException as error:
            # Chromium reports a node replaced between finding and reading it as an "unknown error"
            # rather than a stale element; it is the same race, so it means "not yet" too.
            if GONE_NODE in str(error):
                return False
            raise

    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, timeout, poll_frequency=0.2, ignored_exceptions=ignored).until(
        settled, message=what
    )


def loaded_images(driver: Any, selector: str) -> int:
    """How many of the images matching `selector` have really loaded (decoded, non-empty)."""
    script = (
        "return Array.from(document.querySelectorAll(arguments[0]))"
        ".filter(img => img.complete && img.naturalWidth > 0).length"
    )
    return int(driver.execute_script(script, selector))


def foreign_requests(driver: Any, origin: str) -> list[str]:
    """Every resource the page asked for outside `origin` (none are expected: assets ship with the package)."""
    urls = driver.execute_script("return performance.getEntriesByType('resource').map(entry => entry.name)")
    return [url for url in urls if not url.startswith(origin) and not url.startswith("data:")]


def screenshot(driver: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
