"""Layout loaders: every SynthFaces export read back by its loader; CelebA files; clear errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hubmodels.data.layouts import (AttributeFolder, DomainFolder, ImageFolder, MaskFolder, PairedFolder,
                                    open_layout, pil_to_tensor, read_attribute_file)
from hubmodels.data.synthfaces import (ATTRIBUTE_FILE_NAMES, ATTRIBUTES, DOMAINS, MASK_CLASSES, export, main,
                                       render_face)

ROOT = Path(__file__).resolve().parents[1]
N, S = 7, 32


def test_domains_layout_round_trip(tmp_path):
    export("domains", tmp_path, N, S, seed=3)
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == sorted(DOMAINS)
    ds = open_layout("domains", tmp_path, S)
    assert isinstance(ds, DomainFolder) and len(ds) == N and ds.domains == sorted(DOMAINS)
    for k in range(len(ds)):
        item = ds[k]
        index = int(ds.files[k].stem)
        face = render_face(3, index, S)
        assert ds.domains[int(item["domain"])] == face.domain == ds.files[k].parent.name
        assert torch.equal(item["image"], pil_to_tensor(face.image))  # PNG is lossless
    # resized on load, values stay in [-1, 1]
    small = DomainFolder(tmp_path / "train", 16, domains=["fox", "cat"])
    assert small[0]["image"].shape == (3, 16, 16) and small.domains == ["fox", "cat"]
    assert set(small.labels) == {0, 1} and len(small) == sum(1 for i in range(N) if i % 3 != 1)


def test_val_split_is_disjoint_from_train(tmp_path):
    export("domains", tmp_path, 3, S, split="val")
    export("domains", tmp_path, 3, S, split="train")
    val, train = open_layout("domains", tmp_path, S, split="val"), open_layout("domains", tmp_path, S)
    assert "val" in str(val.files[0]) and len(val) == 3
    assert not torch.equal(val[0]["image"], train[0]["image"])


def test_attributes_layout_round_trip(tmp_path):
    export("attributes", tmp_path, N, S, seed=5)
    names, rows = read_attribute_file(tmp_path / "list_attr_celeba.txt")
    assert names == [ATTRIBUTE_FILE_NAMES[a] for a in ATTRIBUTES] and len(rows) == N
    ds = open_layout("attributes", tmp_path, S)
    assert isinstance(ds, AttributeFolder) and len(ds) == N
    for i in range(N):
        face = render_face(5, i, S)
        assert ds[i]["attributes"].tolist() == [float(face.attributes[a]) for a in ATTRIBUTES]
        assert torch.equal(ds[i]["image"], pil_to_tensor(face.image))
    # a subset, in the caller's order, names matched case-insensitively
    sel = open_layout("attributes", tmp_path, 16, selected_attrs=["Mouth_Open", "black_fur"])
    assert sel.selected_attrs == ["Mouth_Open", "Black_Fur"]
    assert sel[2]["attributes"].tolist() == [float(render_face(5, 2, S).attributes[a]) for a in ("open_mouth", "black_fur")]
    with pytest.raises(ValueError, match="unknown attribute 'Blond_Hair'.*Black_Fur"):
        open_layout("attributes", tmp_path, S, selected_attrs=["Blond_Hair"])


def _write_celeba(tmp_path: Path, n: int = 12) -> Path:
    # The real list_attr_celeba.txt: count, names (trailing space), rows with two-space padding.
    names = ["5_o_Clock_Shadow", "Black_Hair", "Blond_Hair", "Brown_Hair", "Eyeglasses", "Male", "Young"]
    img_dir = tmp_path / "img_align_celeba"
    img_dir.mkdir()
    lines = [str(n), " ".join(names) + " "]
    rng = np.random.default_rng(0)
    for k in range(1, n + 1):
        vals = rng.choice([-1, 1], len(names))
        lines.append(f"{k:06d}.jpg " + " ".join(f"{v:2d}" for v in vals))
        Image.fromarray(rng.integers(0, 255, (218, 178, 3), dtype=np.uint8)).save(img_dir / f"{k:06d}.jpg")
    (tmp_path / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_real_celeba_attribute_file(tmp_path):
    root = _write_celeba(tmp_path)
    names, rows = read_attribute_file(root / "list_attr_celeba.txt")
    assert names[1] == "Black_Hair" and len(names) == 7 and len(rows) == 12 and rows[0][0] == "000001.jpg"
    sel = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]  # StarGAN's default
    ds = open_layout("attributes", root, 32, selected_attrs=sel)
    assert len(ds) == 12 and ds[0]["image"].shape == (3, 32, 32)  # 178x218 centre-cropped, then resized
    expected = [1.0 if rows[0][1][names.index(a)] == 1 else 0.0 for a in sel]
    assert ds[0]["attributes"].tolist() == expected
    # StarGAN's split: shuffle with seed 1234, first test_count rows are test
    test = AttributeFolder(root / "img_align_celeba", root / "list_attr_celeba.txt", 32, sel, split="test", test_count=4)
    train = AttributeFolder(root / "img_align_celeba", root / "list_attr_celeba.txt", 32, sel, split="train", test_count=4)
    assert len(test) == 4 and len(train) == 8 and not set(test.files) & set(train.files)
    # CSV variant (Kaggle) parses to the same table
    csv = root / "list_attr_celeba.csv"
    csv.write_text("image_id," + ",".join(names) + "\n" +
                   "\n".join(f + "," + ",".join(str(v) for v in vals) for f, vals in rows) + "\n")
    assert read_attribute_file(csv) == (names, rows)
    # a listed image missing from disk
    (root / "img_align_celeba" / "000003.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="000003.jpg"):
        open_layout("attributes", root, 32)
    assert len(open_layout("attributes", root, 32, skip_missing=True)) == 11


def test_bad_attribute_files(tmp_path):
    bad = tmp_path / "a.txt"
    bad.write_text("Black_Hair Male\n000001.jpg 1 -1\n")
    with pytest.raises(ValueError, match="line 1 = image count"):
        read_attribute_file(bad)
    bad.write_text("1\nBlack_Hair Male\n000001.jpg 1\n")
    with pytest.raises(ValueError, match="expected 2"):
        read_attribute_file(bad)
    bad.write_text("1\nBlack_Hair Male\n000001.jpg 1 yes\n")
    with pytest.raises(ValueError, match="1 or -1"):
        read_attribute_file(bad)
    with pytest.raises(FileNotFoundError, match="nothere.txt"):
        read_attribute_file(tmp_path / "nothere.txt")


def test_pairs_layout_round_trip_via_cli(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "hubmodels.data.synthfaces", "export", "--layout", "pairs", "--n", str(N),
           "--size", str(S), "--out", str(tmp_path), "--seed", "2"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    files = sorted((tmp_path / "train").glob("*_AB.png"))
    assert len(files) == N and Image.open(files[0]).size == (2 * S, S)
    ds = open_layout("pairs", tmp_path, S)
    assert isinstance(ds, PairedFolder) and len(ds) == N
    assert [p.name for p in ds.files[:3]] == ["0_AB.png", "1_AB.png", "2_AB.png"]  # natural order
    face = render_face(2, 3, S)
    item = ds[3]
    assert torch.equal(item["A"], pil_to_tensor(face.edges.convert("RGB")))
    assert torch.equal(item["B"], pil_to_tensor(face.image))
    back = PairedFolder(tmp_path / "train", S, direction="BtoA")[3]
    assert torch.equal(back["A"], item["B"]) and torch.equal(back["B"], item["A"])
    with pytest.raises(ValueError, match="AtoB, BtoA"):
        PairedFolder(tmp_path / "train", S, direction="up")



def test_cli_reports_bad_arguments(tmp_path, capsys):
    assert main(["export", "--layout", "images", "--n", "2", "--size", "3", "--out", str(tmp_path)]) == 2
    assert "[8, 1024]" in capsys.readouterr().err
    assert main(["export", "--layout", "masks", "--n", "2", "--size", "16", "--out", str(tmp_path)]) == 0
    assert len(list((tmp_path / "masks").glob("*.png"))) == 2


def test_masks_layout_round_trip(tmp_path):
    export("masks", tmp_path, N, S, seed=1)
    pal = json.loads((tmp_path / "palette.json").read_text())
    assert pal["classes"] == list(MASK_CLASSES) and len(pal["palette"]) == len(MASK_CLASSES)
    ds = open_layout("masks", tmp_path, S)
    assert isinstance(ds, MaskFolder) and len(ds) == N and ds.classes == list(MASK_CLASSES)
    for i in (0, 5):
        face = render_face(1, i, S)
        item = ds[i]
        assert torch.equal(item["mask"], torch.from_numpy(face.mask.astype(np.int64)))
        assert torch.equal(item["image"], pil_to_tensor(face.image))
    small = MaskFolder(tmp_path / "images", tmp_path / "masks", 16)[0]["mask"]
    assert small.shape == (16, 16) and small.dtype == torch.int64
    assert set(small.unique().tolist()) <= set(np.unique(render_face(1, 0, S).mask).tolist())  # nearest: no new ids

    # a coloured (RGB palette) mask is not a class-id mask
    Image.fromarray(np.full((S, S, 3), (255, 0, 0), np.uint8)).save(tmp_path / "masks" / "2.png")
    with pytest.raises(ValueError, match="single-channel class-id"):
        ds[2]
    # an image without its mask
    (tmp_path / "masks" / "4.png").unlink()
    with pytest.raises(ValueError, match=r"must match by file stem.*\['4'\]"):
        open_layout("masks", tmp_path, S)


def test_mask_of_wrong_size(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    Image.new("RGB", (20, 20)).save(tmp_path / "images" / "0.png")
    Image.new("L", (10, 10)).save(tmp_path / "masks" / "0.png")
    with pytest.raises(ValueError, match="10x10 but image .* 20x20"):
        open_layout("masks", tmp_path, 8)[0]


def test_images_layout_round_trip(tmp_path):
    export("images", tmp_path, N, S, seed=4)
    assert (tmp_path / "00006.png").is_file()
    (tmp_path / "sub").mkdir()
    render_face(4, 99, 48).image.save(tmp_path / "sub" / "x.jpg")  # recursive, any size, jpg
    ds = open_layout("images", tmp_path, S)
    assert isinstance(ds, ImageFolder) and len(ds) == N + 1
    assert torch.equal(ds[6]["image"], pil_to_tensor(render_face(4, 6, S).image))
    assert ds[N]["image"].shape == (3, S, S)


def test_jpg_export(tmp_path):
    export("images", tmp_path, 2, S, ext="jpg")
    ds = ImageFolder(tmp_path, S)
    diff = (ds[1]["image"] - pil_to_tensor(render_face(0, 1, S).image)).abs().mean()
    assert len(ds) == 2 and diff < 0.1


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        open_layout("images", tmp_path / "nowhere", S)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        ImageFolder(tmp_path / "empty", S)
    with pytest.raises(ValueError, match="no domain subfolders"):
        DomainFolder(tmp_path / "empty", S)
    (tmp_path / "empty" / "cat").mkdir()
    with pytest.raises(FileNotFoundError, match=r"\['dog'\].*present: \['cat'\]"):
        DomainFolder(tmp_path / "empty", S, domains=["cat", "dog"])
    with pytest.raises(ValueError, match="holds no images"):
        DomainFolder(tmp_path / "empty", S, domains=["cat"])
    with pytest.raises(FileNotFoundError, match="attribute file.*list_attr_celeba.txt"):
        open_layout("attributes", tmp_path / "empty", S, image_dir=tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="mask folder"):
        open_layout("masks", tmp_path, S, image_dir=tmp_path / "empty")
    with pytest.raises(ValueError, match="accepted: domains, attributes, pairs, masks, images"):
        open_layout("videos", tmp_path, S)
    with pytest.raises(ValueError, match="accepted: domains, attributes, pairs, masks, images"):
        export("videos", tmp_path, 1)


def _face_folder(root: Path) -> Path:
    from hubmodels.data.synthfaces import render_face

    for d in ("cat", "dog"):
        (root / d).mkdir(parents=True)
        for i in range(3):
            render_face(0, i, size=32, domain=d).image.save(root / d / f"{i}.png")
    return root


def test_unreadable_files_are_skipped_with_a_warning(tmp_path):
    from hubmodels.data.layouts import open_layout

    root = _face_folder(tmp_path / "data")
    (root / "dog" / "notes.png").write_text("not an image")
    with pytest.warns(UserWarning, match=r"skipped 1 file\(s\) .* not readable images: notes.png"):
        ds = open_layout("domains", root, 32)
    assert len(ds) == 6 and all(p.name != "notes.png" for p in ds.files)


def test_image_damaged_past_its_header_names_the_file(tmp_path):
    from hubmodels.data.layouts import DatasetImageError, open_layout

    root = _face_folder(tmp_path / "data")
    whole = (root / "cat" / "1.png").read_bytes()
    (root / "cat" / "1.png").write_bytes(whole[: len(whole) // 2])  # header intact, pixels cut
    ds = open_layout("domains", root, 32)
    with pytest.raises(DatasetImageError, match=r"cat/1.png cannot be read as an image"):
        ds[1]


def test_training_on_a_damaged_image_stops_cleanly(tmp_path, capsys):
    from train import stargan_v2

    root = _face_folder(tmp_path / "data")
    whole = (root / "dog" / "2.png").read_bytes()
    (root / "dog" / "2.png").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(SystemExit, match=r"error: .*dog/2.png cannot be read as an image.*remove or replace it"):
        stargan_v2.main(["--data", str(root), "--img-size", "32", "--steps", "2", "--batch-size", "2", "--dim-in",
                         "8", "--max-conv-dim", "16", "--style-dim", "8", "--hidden-dim", "16", "--threads", "1",
                         "--out", str(tmp_path / "run")])
    assert not (tmp_path / "run" / "checkpoints" / "latest.json").exists()
