"""Every config composes, and composes to the settings users rely on."""

from __future__ import annotations

import re

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from fairens.data import list_datasets
from fairens.models import list_models
from fairens.settings import run_name

from conftest import CONFIGS, REPO

GROUP_OPTIONS = [(group, p.stem) for group in ("data", "model", "trainer", "ensemble")
                 for p in sorted((CONFIGS / group).glob("*.yaml"))]


@pytest.mark.parametrize(("group", "option"), GROUP_OPTIONS)
def test_every_group_option_composes(train_config, group: str, option: str) -> None:
    cfg = train_config(f"{group}={option}")
    OmegaConf.resolve(cfg)
    assert cfg.ensemble.size == 2
    assert cfg.model.name in list_models()
    assert cfg.data.name in list_datasets()


EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes(train_config, experiment: str) -> None:
    cfg = train_config(f"experiment={experiment}")
    OmegaConf.resolve(cfg)
    assert cfg.model.name in list_models()


def test_defaults_are_the_documented_ones(train_config) -> None:
    cfg = train_config()
    assert (cfg.data.name, cfg.model.name) == ("digits", "small_cnn")
    assert cfg.data.imbalance_ratio == 10
    assert list(cfg.ensemble.vary) == ["init", "batch_order", "augmentation"]
    assert (cfg.ensemble.seed, cfg.ensemble.k, cfg.ensemble.member) == (0, 3, None)
    assert cfg.trainer.deterministic is True


def test_the_analysis_defaults_live_in_one_place(train_config) -> None:
    """Every AnalysisOptions field has its setting in the yaml, at the field's default, and
    the yaml's report.* holds nothing else; the flags, the sweep and the restoring of a
    run's options are built from the same fields."""
    from fairens.cli import build_parser
    from fairens.fairness import AnalysisOptions, option_fields
    from fairens.settings import analysis_options, ensemble_settings
    cfg = train_config()
    assert analysis_options(cfg, ensemble_settings(cfg.ensemble)) == AnalysisOptions()
    settings = {f.metadata["setting"]: f.default for f in option_fields()}
    assert {key: OmegaConf.select(cfg, key) for key in settings} == settings
    assert {f"report.{key}" for key in cfg.report} == {s for s in settings if "report." in s}
    report_help = build_parser().parse_args(["report", "x"])  # every field has a flag
    assert {f.name for f in option_fields()} <= set(vars(report_help))
    ablation = (REPO / "configs" / "experiment" / "vary_ablation.yaml").read_text()
    assert not any(f"${{{setting}}}" in ablation for setting in settings)
    readme = (REPO / "README.md").read_text()
    assert [s for s in settings if f"| `{s}` |" not in readme] == []


def test_settings_users_rely_on_exist(train_config) -> None:
    cfg = train_config("ensemble.size=10")
    absent = object()
    for key in ("run_name", "ensemble.size", "ensemble.seed", "ensemble.vary", "ensemble.k",
                "ensemble.member", "data.imbalance_ratio", "data.image_size",
                "trainer.max_epochs", "paths.models", "paths.results", "paths.export"):
        assert OmegaConf.select(cfg, key, default=absent) is not absent, key


def test_every_dataset_and_model_has_a_config() -> None:
    assert {p.stem for p in (CONFIGS / "data").glob("*.yaml")} >= set(list_datasets())
    assert {p.stem for p in (CONFIGS / "model").glob("*.yaml")} >= set(list_models())


def test_default_run_name_is_derived() -> None:
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["ensemble.size=4"])
    assert cfg.run_name is None
    assert re.fullmatch(r"digits_small_cnn_k4_\d{8}-\d{6}", run_name(cfg))


README_LAUNCHERS = {
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "num_threads=1"],
    "submitit_slurm": ["hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu",
                       "hydra.launcher.gpus_per_node=1", "trainer.accelerator=gpu"],
}


@pytest.mark.parametrize("launcher", README_LAUNCHERS)
def test_the_readme_cluster_commands_compose(launcher: str) -> None:
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("train", return_hydra_config=True, overrides=[
            "ensemble.member=0", "run_name=digits_k10", *README_LAUNCHERS[launcher]])
    assert cfg.hydra.launcher._target_.split(".")[-1] == {
        "joblib": "JoblibLauncher", "submitit_slurm": "SlurmLauncher"}[launcher]
    for override in README_LAUNCHERS[launcher][1:]:
        key, value = override.split("=")
        assert str(OmegaConf.select(cfg, key)) == value
