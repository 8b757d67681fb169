"""solo-coss-export: a run's backbone (either host) as .safetensors under its timm twin's keys + .json with a
pretrained_cfg, loaded back by plain timm calls (in a process that imports neither solo_coss, where the family
has a timm twin, nor solo-learn), by our own loader and by torchvision, with the same features."""

import json
import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch
import torchvision
from docs_blocks import run_by
from helpers import TINY_OVERRIDES
from safetensors.torch import load_file
from test_pretrained import solo_like_run

from solo_coss.backbones import FAMILIES, backbones_by_family, build_backbone, family_of
from solo_coss.backbones.exported import load_exported_backbone, network_of, save_backbone
from solo_coss.backbones.intermediates import adapter
from solo_coss.hosts.export import main as export_main
from solo_coss.hosts.pretrained import checkpoint_identity, load_pretrained
from solo_coss.hosts.standalone.checkpoints import save_linear
from solo_coss.hosts.standalone.config import load_config, record, resolve_pretrain_config
from solo_coss.hosts.standalone.module import PretrainModule

ROOT = Path(__file__).resolve().parents[1]
# What resolve_model_data_config gives for a Fashion-MNIST run: its 32 px crop, its statistics, and the linear
# evaluation's validation transform (nothing to resize at 32 px: "squash" at crop_pct 1); lists, as the .json
# holds them.
FMNIST_DATA = {"input_size": [3, 32, 32], "interpolation": "bilinear", "mean": [0.286] * 3,
               "std": [0.353] * 3, "crop_pct": 1.0, "crop_mode": "squash"}
SMALL = ["backbone.kwargs.widths=[8,16,32,64]"]


def randomise(module: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial weights and BatchNorm statistics, so that eval-mode outputs depend on every tensor."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) + 0.5 if "running_var" in name else
                        torch.randn(t.shape, generator=g) * 0.1)


def tiny_run(folder: Path, *backbone: str) -> Path:
    """A standalone pretraining checkpoint as Lightning writes it (co_byol on Fashion-MNIST; by default the
    quarter-width rf29_resnet18 of the tiny runs, else the backbone overrides given), every tensor set."""
    overrides = [o for o in TINY_OVERRIDES if not o.startswith("+") and "widths" not in o]
    overrides += list(backbone) or SMALL
    cfg = resolve_pretrain_config(
        load_config(str(ROOT / "scripts/pretrain/fashion-mnist"), "co_byol.yaml", overrides)
    )
    module = PretrainModule(cfg)
    randomise(module)
    folder.mkdir(parents=True)
    torch.save(
        {"state_dict": module.state_dict(), "hyper_parameters": {"cfg": record(cfg)}, "epoch": 0},
        folder / "last.ckpt",
    )
    return folder


def export(run: Path, out: Path, *flags: str) -> dict:
    export_main([str(run), "--out", str(out), *flags])
    return json.loads(out.with_suffix(".json").read_text())


def from_export(spec: dict, **kwargs) -> torch.nn.Module:
    """The plain timm call of docs/export.md, on the .json's timm block."""
    return timm.create_model(spec["model"], pretrained=True, pretrained_cfg_overlay=spec["pretrained_cfg"],
                             **spec["kwargs"], **kwargs).eval()


def assert_written_like_any_new_file(path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    modes = [stat.S_IMODE(p.stat().st_mode) for p in (path, path.with_suffix(".json"))]
    assert modes == [0o666 & ~umask] * 2


@torch.no_grad()
def test_rf_resnet_export_is_a_full_timm_model(tmp_path, capsys):
    run = tiny_run(tmp_path / "run")
    weights = tmp_path / "out" / "co_byol.safetensors"
    spec = export(run, weights)
    assert f"backbone weights: {weights}" in capsys.readouterr().out
    assert spec["name"] == "rf29_resnet18" and spec["kwargs"] == {"widths": [8, 16, 32, 64]}
    assert spec["keys"] == "timm"
    assert spec["method"] == "co_byol" and spec["receptive_field"] == 29 and spec["num_features"] == 64
    assert spec["timm"]["model"] == "rf29_resnet18" and spec["timm"]["import_solo_coss"]
    assert_written_like_any_new_file(weights)
    timm_spec, reference = spec["timm"], load_pretrained(run)[0]
    model = from_export(timm_spec)
    x = torch.randn(4, 3, 32, 32)
    expected = reference(x)
    assert torch.equal(model(x), expected) and torch.equal(load_exported_backbone(weights)(x), expected)
    assert torch.equal(model.forward_intermediates(x, indices=[4])[1][0], reference.global_and_local(x)[1])
    assert timm.data.resolve_model_data_config(model) == FMNIST_DATA
    pyramid = from_export(timm_spec, features_only=True, out_indices=(1, 2, 3, 4))
    assert [tuple(f.shape[1:]) for f in pyramid(x)] == [(8, 16, 16), (16, 16, 16), (32, 8, 8), (64, 4, 4)]
    assert torch.equal(pyramid(x)[-1], reference.forward_features(x))
    tuned = from_export(timm_spec, num_classes=10)  # a new classifier on the exported backbone
    assert tuned(x).shape == (4, 10)
    assert torch.equal(tuned.forward_head(tuned.forward_features(x), pre_logits=True), expected)


@pytest.mark.slow  # two ResNet-18s built and filled (the key names: the CIFAR test, in the default suite)
@torch.no_grad()
def test_resnet18_export_has_timm_and_torchvision_keys(tmp_path):
    """Fashion-MNIST keeps the ImageNet stem: timm's resnet18 is the twin, its keys are torchvision's too."""
    run = tiny_run(tmp_path / "run", "backbone.name=resnet18", "~backbone.kwargs")
    spec = export(run, tmp_path / "r18.safetensors")
    assert spec["timm"]["model"] == "resnet18" and not spec["timm"]["import_solo_coss"]
    state = load_file(tmp_path / "r18.safetensors")
    assert "conv1.weight" in state and "bn1.running_var" in state
    assert not any(k.startswith("stem") for k in state)
    reference, x = load_pretrained(run)[0], torch.randn(2, 3, 64, 64)
    net = torchvision.models.resnet18()
    net.fc = torch.nn.Identity()
    net.load_state_dict(state)
    # torchvision and timm pool with AdaptiveAvgPool2d, the wrapper with a mean: equal up to float rounding
    torch.testing.assert_close(net.eval()(x), reference(x), rtol=1e-6, atol=1e-6)
    assert torch.equal(load_exported_backbone(tmp_path / "r18.safetensors")(x), reference(x))


@torch.no_grad()
def test_a_linear_head_becomes_the_timm_classifier(tmp_path):
    run = tiny_run(tmp_path / "run")
    backbone, cfg = load_pretrained(run)
    head = torch.nn.Linear(backbone.num_features, 10)
    save_linear(tmp_path / "run" / "linear_head.pt", head, run / "last.ckpt", cfg, {"val_top1": 50.0},
                checkpoint_identity(run / "last.ckpt", backbone))
    spec = export(run, tmp_path / "model.safetensors", "--head", str(tmp_path / "run" / "linear_head.pt"))
    timm_spec = spec["timm"]
    cfg = timm_spec["pretrained_cfg"]
    assert cfg["num_classes"] == 10 and cfg["classifier"] == "fc"
    model = from_export(timm_spec)
    x = torch.randn(3, 3, 32, 32)
    assert model.num_classes == 10 and torch.equal(model(x), head(backbone(x)))
    assert torch.equal(load_exported_backbone(tmp_path / "model.safetensors")(x), backbone(x))


@torch.no_grad()
def test_solo_learn_cifar_resnet_loads_into_timm_with_the_cifar_stem(tmp_path):
    """solo-learn's CIFAR ResNet-18: timm's ResNet with that stem, registered by solo_coss."""
    path, reference = solo_like_run(tmp_path / "run")
    spec = export(path, tmp_path / "r18.safetensors")
    assert spec["name"] == "resnet18" and spec["kwargs"] == {"cifar_stem": True} and spec["method"] == "byol"
    assert spec["timm"]["model"] == "resnet18_cifar_stem" and spec["timm"]["import_solo_coss"]
    cifar10 = {"input_size": [3, 32, 32], "mean": [0.4914, 0.4822, 0.4465], "std": [0.247, 0.2435, 0.2616]}
    model = from_export(spec["timm"])
    assert {k: timm.data.resolve_model_data_config(model)[k] for k in cifar10} == cifar10
    x, ours = torch.randn(1, 3, 32, 32), load_exported_backbone(tmp_path / "r18.safetensors")
    glob, fmap = ours.global_and_local(x)
    assert torch.equal(glob, load_pretrained(path)[0](x))
    final = model.forward_features(x)
    assert torch.equal(final, fmap)
    torch.testing.assert_close(model.forward_head(final), reference(x))  # solo-learn's own network


@torch.no_grad()
def test_without_a_timm_twin_the_export_keeps_our_keys(tmp_path):
    """A post-pooling MLP has no timm twin: our keys, the reason in the .json, our loader reads it back."""
    model = build_backbone("resnet18", head_mlp_dim=32)
    randomise(model)
    with pytest.raises(ValueError, match=r"--head=None is not valid; resnet18 with head_mlp_dim has no timm"):
        save_backbone(model, "resnet18", {"head_mlp_dim": 32}, tmp_path / "mlp.safetensors",
                      head=torch.nn.Linear(512, 10))
    _, json_path = save_backbone(model, "resnet18", {"head_mlp_dim": 32}, tmp_path / "mlp.safetensors")
    spec = json.loads(json_path.read_text())
    assert spec["keys"] == "solo-coss" and spec["timm"] is None and "head_mlp_dim" in spec["no_timm_twin"]
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(load_exported_backbone(tmp_path / "mlp.safetensors")(x), model.eval()(x))


# The default suite round-trips the smallest backbone of each family (a family added later: its first name);
# the other sizes build the same classes larger and run with the slow marker.
SMALLEST = {
    "ResNet": "resnet18",
    "RF-ResNet": "rf29_resnet18",
    "WideResNet": "wide_resnet28w2",
    "ViT": "vit_micro",
    "Swin": "swin_tiny",
    "ConvNeXt": "convnext_tiny",
    "PoolFormer": "poolformer_s12",
}


def every_backbone_by_size() -> list:
    cases = []
    for family, names in backbones_by_family().items():
        smallest = SMALLEST.get(family, names[0])
        cases += [name if name == smallest else pytest.param(name, marks=pytest.mark.slow) for name in names]
    return cases


@pytest.mark.parametrize("name", every_backbone_by_size())
def test_every_backbone_family_round_trips(tmp_path, name):
    """Through build_backbone's name and kwargs: every family it knows, today's and those added later."""
    model = build_backbone(name)
    randomise(model, seed=1)
    save_backbone(model, name, {}, tmp_path / f"{name}.safetensors")
    loaded = load_exported_backbone(tmp_path / f"{name}.safetensors")
    assert type(loaded) is type(model)
    state = model.state_dict()
    assert loaded.state_dict().keys() == state.keys()
    assert all(torch.equal(v, state[k]) for k, v in loaded.state_dict().items())


def test_bad_output_names_are_one_line(tmp_path):
    run = tiny_run(tmp_path / "run")
    with pytest.raises(
        SystemExit, match=r"solo-coss-export: error: --out .*\.pt: name the file \*\.safetensors"
    ):
        export(run, tmp_path / "x.pt")


# ----------------------------------------------------------------------- plain timm, in its own process

PLAIN_TIMM = """
import json, sys
import timm, torch
line, after_import = sys.argv[4], sys.argv[5] == "import"  # the docs' timm line for the family
if after_import:
    import solo_coss  # registers our names in timm
cfg = json.load(open(sys.argv[1]))["timm"]["pretrained_cfg"]
model = eval(line).eval()
x = torch.load(sys.argv[2])
out = {"data": timm.data.resolve_model_data_config(model), "solo_coss": "solo_coss" in sys.modules,
       "solo": any(m.split(".")[0] == "solo" for m in sys.modules)}
with torch.no_grad():
    out["global"] = model(x)
    out["maps"] = model.forward_intermediates(x, intermediates_only=True)
    out["last"] = model.forward_intermediates(x, indices=1, norm=True, intermediates_only=True)[0]
    if len(sys.argv) > 6:
        pyramid = eval(line[:-1] + ", features_only=True)").eval()
        out["pyramid"] = pyramid(x)
        out["pyramid_info"] = (pyramid.feature_info.channels(), pyramid.feature_info.reduction())
torch.save(out, sys.argv[3])
"""

VIT = ["backbone.name=vit_tiny", "~backbone.kwargs", "+backbone.kwargs.img_size=32",
       "+backbone.kwargs.patch_size=4"]
# family -> (backbone overrides, timm twin, ResNet-like: check features_only)
FAMILY_RUNS = {
    "resnet18": (["backbone.name=resnet18", "~backbone.kwargs"], "resnet18", True),
    "rf29_resnet18": (["backbone.kwargs.widths=[32,64,128,256]"], "rf29_resnet18", True),
    "wide_resnet28w2": (["backbone.name=wide_resnet28w2", "~backbone.kwargs", "method_kwargs.co.stage=null"],
                        "wide_resnet28w2", True),
    "vit_tiny": (VIT, "vit_tiny_patch16_224", False),
    "swin_tiny": (["backbone.name=swin_tiny", "~backbone.kwargs", "+backbone.kwargs.img_size=32"],
                  "swin_tiny_patch4_window7_224", False),
    "convnext_tiny": (["backbone.name=convnext_tiny", "~backbone.kwargs"], "convnext_tiny", False),
    "poolformer_s12": (["backbone.name=poolformer_s12", "~backbone.kwargs"], "poolformer_s12", False),
}


def timm_line(family: str) -> tuple[str, bool]:
    """docs/export.md's timm line for ``family`` and whether it says to import solo_coss first."""
    page = (ROOT / "docs/export.md").read_text()
    row = re.search(rf"^\| `{family}` \| `(timm\.create_model\(.*?\))`(.*)\|$", page, flags=re.M)
    assert row, f"docs/export.md has no timm line for {family}"
    return row.group(1), "import solo_coss" in row.group(2)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max())


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILY_RUNS))
@torch.no_grad()
def test_plain_timm_loads_the_export(tmp_path, family):
    """Export a tiny run; load it in a fresh process with timm's own calls (solo_coss imported there only for
    our registered names: RF-ResNets, WideResNet; solo-learn never); compare with our loader."""
    overrides, twin, resnet_like = FAMILY_RUNS[family]
    run = tiny_run(tmp_path / "run", *overrides)
    spec = export(run, tmp_path / f"{family}.safetensors")
    line, after_import = timm_line(family)
    assert spec["timm"]["model"] == twin and f'"{twin}"' in line
    ours_in_timm = family in ("rf29_resnet18", "wide_resnet28w2")
    assert spec["timm"]["import_solo_coss"] == after_import == ours_in_timm
    side = 64 if family == "poolformer_s12" else 32  # a 2x2 last map (at 1x1 timm's head norm is ours)
    x = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(0))
    torch.save(x, tmp_path / "x.pt")
    args = [tmp_path / f"{family}.json", tmp_path / "x.pt", tmp_path / "out.pt", line,
            "import" if after_import else "-", *(["features_only"] if resnet_like else [])]
    subprocess.run([sys.executable, "-c", PLAIN_TIMM, *map(str, args)], check=True, cwd=tmp_path,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})  # this checkout's solo_coss, where imported
    theirs = torch.load(tmp_path / "out.pt")
    assert not theirs["solo"] and theirs["solo_coss"] == spec["timm"]["import_solo_coss"]
    assert theirs["data"] == FMNIST_DATA
    ours = load_exported_backbone(tmp_path / f"{family}.safetensors")
    assert torch.equal(ours(x), load_pretrained(run)[0](x))
    net = network_of(ours)
    first = FAMILIES[family_of(net).name].first_index
    maps = adapter(family_of(net).name, net).forward_intermediates(x, intermediates_only=True)
    glob, local = ours.global_and_local(x)
    diffs = {"stage maps": max(max_diff(a, b) for a, b in zip(maps, theirs["maps"], strict=True)),
             "local map": max_diff(local, theirs["last"]), "global": max_diff(glob, theirs["global"])}
    print(f"{family} -> timm {twin}: max abs diff " + ", ".join(f"{k} {v:.3g}" for k, v in diffs.items()))
    assert diffs["stage maps"] == 0.0
    if family == "poolformer_s12":  # timm normalises after pooling, without its GroupNorm (timm_twins.py)
        assert diffs["global"] > 1e-3 and diffs["local map"] > 1e-3
        assert "normalises after pooling" in spec["timm"]["note"]
    else:
        assert diffs["local map"] == 0.0
        assert diffs["global"] <= (1e-6 if family == "resnet18" else 0.0)  # mean vs AdaptiveAvgPool2d
    if resnet_like:
        stages = [tuple(m.shape) for m in maps[first:]]
        assert [tuple(f.shape) for f in theirs["pyramid"]][first:] == stages
        assert theirs["pyramid_info"][0][first:] == ours.stage_channels


# ----------------------------------------------------------------------- docs/export.md, as written



@torch.no_grad()
def test_export_page_runs_as_written(tmp_path, monkeypatch, capsys, request):
    """docs/export.md's blocks in order, next to a tiny run of the shipped co_byol config (rf29_resnet18):
    the export command, then the python blocks in one scope; each shown output is what the block prints."""
    shipped = "backbone.kwargs.widths=[32,64,128,256]"
    run = tiny_run(tmp_path / "trained_models/co_byol-fashion-mnist/latest", shipped)
    monkeypatch.chdir(tmp_path)
    blocks = [(b.language, b.code, b.output) for b in run_by(request)]
    assert [language for language, _, _ in blocks] == ["bash", "python", "python", "python"]
    scope: dict = {}
    for language, code, output in blocks:
        if language == "bash":
            words = shlex.split(code)
            assert words[0] == "solo-coss-export"
            export_main(words[1:])
        else:
            exec(compile(code, "docs/export.md", "exec"), scope)
        printed = capsys.readouterr().out
        assert printed == (output or ""), (code, printed)
    reference, _ = load_pretrained(run)
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(scope["model"](x), reference(x)) and torch.equal(scope["backbone"](x), reference(x))
    assert scope["config"] == FMNIST_DATA
    assert torch.equal(scope["features"](x)[-1], reference.forward_features(x))
