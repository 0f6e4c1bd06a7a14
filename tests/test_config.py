"""Typed configs: overrides, presets, and clear errors for unknown keys and wrong types."""

import dataclasses

import pytest

from trajvae.config import ConfigError, from_dict, override, select_preset, to_dict
from trajvae.vae.commands import PRESETS, VAEConfig


def test_override_nested_values_with_types():
  config = override(
    PRESETS["smoke"](),
    [
      "train.steps=7",
      "optim.learning_rate=3e-4",
      "optim.name=adam",
      "optim.clip_global_norm=1.0",
      "data.binarize=false",
    ],
  )
  assert config.train.steps == 7 and isinstance(config.train.steps, int)
  assert config.optim.learning_rate == pytest.approx(3e-4)
  assert config.optim.name == "adam"
  assert config.optim.clip_global_norm == 1.0
  assert config.data.binarize is False
  assert override(config, ["optim.clip_global_norm=none"]).optim.clip_global_norm is None


def test_unknown_key_names_it_and_suggests():
  with pytest.raises(ConfigError, match=r"unknown config key 'train.stpes'.*did you mean 'steps'"):
    override(VAEConfig(), ["train.stpes=10"])
  with pytest.raises(ConfigError, match="unknown config key 'modle.hidden_dim'"):
    override(VAEConfig(), ["modle.hidden_dim=10"])


@pytest.mark.parametrize(
  "assignment,message",
  [
    ("train.steps=ten", "expected an int"),
    ("train.steps=1.5", "expected an int"),
    ("optim.learning_rate=fast", "expected a float"),
    ("optim.name=rmsprop", "not one of"),
    ("data.binarize=maybe", "expected a bool"),
    ("train=3", "is a section"),
    ("train.steps", "key=value"),
  ],
)
def test_wrong_values_are_clear_errors(assignment, message):
  with pytest.raises(ConfigError, match=message):
    override(VAEConfig(), [assignment])


def test_dict_round_trip_and_strictness():
  config = PRESETS["digits-gaussian"]()
  assert from_dict(VAEConfig, to_dict(config)) == config
  data = to_dict(config)
  data["model"]["width"] = 3
  with pytest.raises(ConfigError, match="model.width"):
    from_dict(VAEConfig, data)


def test_unknown_preset():
  with pytest.raises(ConfigError, match="unknown preset 'digit'.*did you mean"):
    select_preset(PRESETS, "digit")


def test_configs_are_immutable():
  with pytest.raises(dataclasses.FrozenInstanceError):
    VAEConfig().train.steps = 3  # type: ignore[misc]


@pytest.mark.parametrize(
  "module", ["trajvae.vae.configs", "trajvae.music.configs", "trajvae.structured.configs", "trajvae.sectar.configs"]
)
def test_every_preset_is_a_function_that_names_its_command_and_expected_figure(module):
  import importlib

  presets = importlib.import_module(module).PRESETS
  for name, preset in presets.items():
    doc = preset.__doc__ or ""
    assert preset.__name__ != "<lambda>" and "Run:" in doc and "Expected" in doc, (name, doc)


def test_config_class_names_are_unique_in_the_package():
  import importlib
  import pkgutil

  import trajvae

  defined: dict[str, list[str]] = {}
  for info in pkgutil.walk_packages(trajvae.__path__, "trajvae."):
    if info.name.endswith("__main__"):
      continue
    module = importlib.import_module(info.name)
    for name, value in vars(module).items():
      if name.endswith("Config") and dataclasses.is_dataclass(value) and value.__module__ == info.name:
        defined.setdefault(name, []).append(info.name)
  assert "VAEConfig" in defined and "MusicVAEConfig" in defined
  assert {name: where for name, where in defined.items() if len(where) > 1} == {}


def test_sectar_train_steps_names_train_iterations():
  from trajvae.sectar.configs import SectarConfig, smoke

  with pytest.raises(ConfigError, match=r"unknown config key 'train.steps': .*set train.iterations"):
    override(smoke(), ["train.steps=5"])
  data = to_dict(smoke())
  data["train"]["steps"] = 5
  with pytest.raises(ConfigError, match="set train.iterations"):
    from_dict(SectarConfig, data)
  assert override(smoke(), ["train.iterations=5"]).train.iterations == 5
