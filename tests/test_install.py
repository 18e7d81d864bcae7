"""`pip install .` (not editable) ships templates, schemas and data: build from another directory works."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from helpers import EXAMPLES, REPO


def test_wheel_install_builds_an_example_elsewhere(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
        check=True,
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    wheel = next(wheels.glob("modalc-*.whl"))
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    # Dependencies come from this interpreter's site-packages; its .pth files (an editable modalc) are not
    # processed from a plain path entry, so the freshly installed wheel is what runs.
    site = Path(
        subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    (site / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    project = tmp_path / "elsewhere" / "whisper"
    shutil.copytree(EXAMPLES / "whisper_service", project)
    shutil.rmtree(project / "generated")
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    result = subprocess.run(
        [str(venv / "bin" / "modalc"), "build", "app.toml"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    where = subprocess.check_output([str(python), "-c", "import modalc; print(modalc.__file__)"], text=True)
    assert where.startswith(str(venv)), where
    for name in ("app_dev.py", "app_prod.py"):
        assert (project / "generated" / name).read_text() == (
            EXAMPLES / "whisper_service" / "generated" / name
        ).read_text()
    # The starters ship whole (manifests, data, dotfiles and code), and `modalc init` works from the wheel.
    import zipfile

    shipped = set(zipfile.ZipFile(wheel).namelist())
    starters = REPO / "compiler" / "modalc" / "starters"
    expected = {
        "modalc/starters/" + p.relative_to(starters).as_posix()
        for p in starters.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert expected and expected <= shipped, sorted(expected - shipped)
    result = subprocess.run(
        [str(venv / "bin" / "modalc"), "init", "new", "--example", "batch", "--format", "yaml"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "new" / "data" / "items.jsonl").is_file() and (tmp_path / "new" / "generated").is_dir()
