"""What a normal (non-editable) install gets: a wheel built from the tree carries the service model, the
demo bundles and `lookoutvision_emulator`, and `serve --demo` works from it, away from the checkout."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lookoutvision_emulator import client

ROOT = Path(__file__).resolve().parents[1]
# What the Dockerfile copies, and so what a wheel must be buildable from.
BUILD_INPUTS = ("pyproject.toml", "README.md", "server", "lookoutvision_emulator")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """`pip wheel . --no-deps`, offline (the installed setuptools and wheel), from a copy of the tree."""
    source = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q", "-w"]
    command.append(str(out))
    result = subprocess.run(command, cwd=source, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = out.glob("*.whl")
    return built


def test_the_wheel_carries_the_demo_bundles_the_model_and_the_client_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for bundle in ("classification", "segmentation"):
        assert {f"server/demo_models/{bundle}/model.json", f"server/demo_models/{bundle}/model.onnx"} <= names
    assert "server/spec/lookoutvision/2020-11-20/service-2.json" in names
    assert {"lookoutvision_emulator/__init__.py", "lookoutvision_emulator/pytest_plugin.py"} <= names
    assert {"server/cli/__init__.py", "server/cli/main.py", "server/__main__.py"} <= names
    assert not any(name.startswith(("tests/", "models/", "server/testing/")) for name in names)


def test_serve_demo_runs_from_the_installed_wheel_alone(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOOKOUTVISION_EMULATOR_")}
    env.update(PYTHONPATH=str(site), PYTHONUNBUFFERED="1")  # not the checkout: only what was installed
    found = subprocess.run([sys.executable, "-c", "from server.demo import demo_dir; print(demo_dir())"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()) == site / "server" / "demo_models"
    command = [sys.executable, "-m", "server", "serve", "--demo", "--in-memory", "--port", "0"]
    server = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)  # fmt: skip
    try:
        line = server.stdout.readline() if server.stdout else ""
        assert line.startswith("lookoutvision-emulator ready on "), line + server.communicate(timeout=30)[1]
        lfv = client(line.split()[-1])
        models = lfv.list_models(ProjectName="demo")["Models"]
        assert sorted((m["ModelVersion"], m["Status"]) for m in models) == [("1", "HOSTED"), ("2", "HOSTED")]
    finally:
        server.send_signal(signal.SIGINT)
        _, errors = server.communicate(timeout=30)
    assert server.returncode == 0 and "Traceback" not in errors


def test_pyproject_installs_both_packages_and_the_dockerfile_installs_them():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    assert "server*" in include and "lookoutvision_emulator*" in include
    assert project["project"]["scripts"]["lookoutvision-emulator"] == "server.cli:main"
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    copied = re.findall(r"^COPY (.+) \S+$", dockerfile, flags=re.MULTILINE)
    sources = {part for line in copied for part in line.split()}
    assert set(BUILD_INPUTS) <= sources  # everything the wheel above was built from
    assert all((ROOT / source).exists() for source in sources)
    # not editable (extras such as [postgresql] are fine)
    assert re.search(r"^RUN pip install '?\.(\[[a-z,]+\])?'?(\s|$)", dockerfile, flags=re.MULTILINE)
    assert "DEMO_DIR" not in dockerfile  # the bundles come with the package


def test_the_installed_dependencies_are_inside_the_pinned_ranges():
    """The ranges in pyproject.toml are the tested ones: a run on anything else must say so."""
    tomllib = pytest.importorskip("tomllib")
    requirements = pytest.importorskip("packaging.requirements")
    from importlib.metadata import PackageNotFoundError, version

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    checked = []
    for line in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        requirement = requirements.Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            continue
        assert requirement.specifier.contains(installed, prereleases=True), (line, installed)
        checked.append(requirement.name)
    assert {"boto3", "botocore", "starlette", "uvicorn", "moto"} <= set(checked)
