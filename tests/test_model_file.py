"""Training configs name their model by file (model_file): expanded into model/model_conf,
overridable key by key, and resolved as the same config written inline."""

from pathlib import Path

import pytest
import yaml

from bccmt_tools.errors import BccmtError
from bccmt_tools.models import resolved_model_conf
from bccmt_tools.train.config import load_config

REPO = Path(__file__).resolve().parents[1]


def _write(path, mapping):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(mapping))
    return path


def _resolved(path, overrides=()):
    config = load_config(path, overrides)
    config["model_conf"] = resolved_model_conf(config)
    return config


@pytest.mark.parametrize("name, inline", [
    ("bccmt_tiny", {"model": "bccmt", "model_conf": {"size": "tiny"}}),
    ("bccmt_base", {"model": "bccmt", "model_conf": {"size": "base", "attention": "temporal"}}),
    ("bccmt_tiny_conventional", {"model": "bccmt", "model_conf": {"size": "tiny", "attention": "spectro_temporal"}}),
    ("ecapa_tdnn_c512", {"model": "ecapa_tdnn", "model_conf": {"channels": 512}}),
])
def test_a_model_file_resolves_like_the_inline_model(tmp_path, name, inline):
    by_file = _write(tmp_path / "conf" / "train" / "a.yaml", {"model_file": name, "trainer": {"epochs": 3}})
    by_hand = _write(tmp_path / "b.yaml", dict(inline, trainer={"epochs": 3}))
    assert _resolved(by_file) == _resolved(by_hand)
    assert "model_file" not in _resolved(by_file)


def test_own_keys_and_set_override_the_file_and_paths_are_relative(tmp_path):
    mine = {"model": "bccmt", "model_conf": {"size": "tiny", "dropout": 0.3}}
    _write(tmp_path / "conf" / "models" / "mine.yaml", mine)
    config = _write(tmp_path / "conf" / "train" / "a.yaml", {"model_file": "mine", "model_conf": {"dropout": 0.0}})
    assert _resolved(config)["model_conf"]["dropout"] == 0.0  # the recipe's models/ folder comes first
    assert _resolved(config, ["model_conf.embedding_dim=96"])["model_conf"]["embedding_dim"] == 96
    relative = _write(tmp_path / "conf" / "train" / "b.yaml", {"model_file": "../models/mine.yaml"})
    assert _resolved(relative)["model_conf"]["dropout"] == 0.3


def test_bad_model_files_are_one_line_errors(tmp_path):
    config = _write(tmp_path / "a.yaml", {"model_file": "no_such_model"})
    with pytest.raises(BccmtError, match="key 'model_file': no model file 'no_such_model'"):
        load_config(config)
    config = _write(tmp_path / "b.yaml", {"model_file": "bccmt_tiny", "model": "ecapa_tdnn"})
    with pytest.raises(BccmtError, match="key 'model': 'ecapa_tdnn', but the model file .* is a 'bccmt'"):
        load_config(config)
    _write(tmp_path / "odd.yaml", {"model": "bccmt", "optim": {"lr": 1}})
    config = _write(tmp_path / "c.yaml", {"model_file": "odd.yaml"})
    with pytest.raises(BccmtError, match="holds 'model' and 'model_conf' only"):
        load_config(config)


def test_every_recipe_training_config_resolves():
    for path in sorted((REPO / "egs/voxceleb/conf/train").glob("*.yaml")):
        given = yaml.safe_load(path.read_text())
        if "model" in given or "model_file" in given:
            assert _resolved(path)["model"] in ("bccmt", "ecapa_tdnn"), path


def test_the_model_files_are_package_data_found_by_a_non_editable_install(tmp_path):
    """The model files ship inside the package: listed by importlib.resources, declared in
    setup.cfg's package_data, and a wheel built from the sources resolves ``model_file: NAME`` with
    no repository around it."""
    import configparser
    import fnmatch
    import os
    import shutil
    import subprocess
    import sys
    import zipfile
    from importlib import resources

    shipped = sorted(entry.name for entry in resources.files("bccmt_tools").joinpath("conf", "models").iterdir()
                     if entry.name.endswith(".yaml"))
    assert "bccmt_tiny.yaml" in shipped and len(shipped) >= 10
    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg")
    patterns = setup["options.package_data"]["bccmt_tools"].split()
    assert all(any(fnmatch.fnmatch(f"conf/models/{name}", p) for p in patterns) for name in shipped)
    # A wheel of a copy of the sources (nothing written into the checkout), unpacked elsewhere.
    source = tmp_path / "src"
    shutil.copytree(REPO / "bccmt_tools", source / "bccmt_tools", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True)
    if build.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {build.stderr.strip().splitlines()[-1:]}")
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    assert sorted(n.rsplit("/", 1)[1] for n in zipfile.ZipFile(wheel).namelist()
                  if n.startswith("bccmt_tools/conf/models/")) == shipped
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    probe = ("from bccmt_tools.train.model_file import PACKAGE_MODELS, expand_model_file\n"
             "print(PACKAGE_MODELS)\n"
             "print(expand_model_file({'model_file': 'bccmt_tiny'})['model_conf']['size'])\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(tmp_path / "site")))
    assert result.returncode == 0, result.stderr
    where, size = result.stdout.split()
    assert Path(where).is_relative_to(tmp_path / "site") and size == "tiny"
