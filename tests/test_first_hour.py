"""A newcomer's mistakes end in one line and a documented exit code, and the quick paths stay torch-free.

One test per mistake of issue 15: a missing output folder (eval, plot, perception), ``--device cuda``
without a GPU, a codec name with the wrong case, an output name whose extension contradicts what is
written, a script that needs data it does not find. None may print ``internal error`` or a traceback.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ncodec.cli import EXIT_INTERNAL, main
from ncodec.errors import MissingDeviceError, ModelMismatchError, UnsupportedInputError, UsageError

from conftest import ASSETS, SAMPLE

REPO = Path(__file__).resolve().parent.parent
IMAGE = ASSETS / "kodim21_64x64.png"


def _one_line_error(capsys, code: int, expected: int, *words: str) -> str:
    err = capsys.readouterr().err.strip()
    assert code == expected, err
    assert len(err.splitlines()) == 1 and "internal error" not in err and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


@pytest.mark.parametrize("argv", [
    ["eval", str(ASSETS), "--codec", "jpeg", "--qualities", "50", "-o", "{missing}/r.json"],
    ["plot", str(REPO / "results" / "kodak" / "jpeg.json"), "-o", "{missing}/rd.png"],
    ["perception", str(ASSETS), "--task", "faces", "--codec", "jpeg", "-o", "{missing}/p.json"],
], ids=["eval", "plot", "perception"])
def test_missing_output_folder_is_refused_before_any_work(tmp_path, capsys, argv):
    missing = tmp_path / "no" / "such"
    argv = [a.replace("{missing}", str(missing)) for a in argv]
    _one_line_error(capsys, main(argv), UsageError.exit_code, "output folder does not exist")
    assert not (tmp_path / "no").exists()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("command", ["encode", "decode"])
def test_device_cuda_without_a_gpu_says_so(tmp_path, capsys, command):
    ncd = tmp_path / "x.ncd"
    assert main(["encode", str(IMAGE), str(ncd), "--codec", "jpeg", "--quality", "50"]) == 0
    capsys.readouterr()
    argv = ["encode", str(IMAGE), str(tmp_path / "y.ncd")] if command == "encode" else ["decode", str(ncd), str(tmp_path / "y.png")]
    _one_line_error(capsys, main(argv + ["--device", "cuda"]), MissingDeviceError.exit_code, "no CUDA GPU")
    assert not (tmp_path / "y.ncd").exists() and not (tmp_path / "y.png").exists()


@pytest.mark.parametrize("name, suggestion", [("JPEG", "jpeg"), ("Mean-Scale-Hyperprior", "mean-scale-hyperprior"),
                                              ("jpegxl", "jpeg-xl"), ("octree_pc", "octree-pc")])
def test_codec_name_with_the_wrong_case_suggests_the_right_one(tmp_path, capsys, name, suggestion):
    code = main(["encode", str(IMAGE), str(tmp_path / "x.ncd"), "--codec", name])
    _one_line_error(capsys, code, UsageError.exit_code, f"did you mean {suggestion!r}")
    code = main(["eval", str(ASSETS), "--codec", name, "-o", str(tmp_path / "r.json")])
    _one_line_error(capsys, code, UsageError.exit_code, f"did you mean {suggestion!r}")
    assert UsageError.exit_code != ModelMismatchError.exit_code  # unknown codec is not "model mismatch"


def test_a_stream_naming_an_unknown_codec_is_a_model_mismatch(tmp_path, capsys):
    from ncodec.codecs import container

    data = (tmp_path / "x.ncd")
    assert main(["encode", str(IMAGE), str(data), "--codec", "jpeg", "--quality", "50"]) == 0
    header, sections = container.unpack(data.read_bytes())
    header.codec = "jpeg-2030"
    (tmp_path / "y.ncd").write_bytes(container.pack(header, sections))
    capsys.readouterr()
    _one_line_error(capsys, main(["decode", str(tmp_path / "y.ncd"), str(tmp_path / "y.png")]),
                    ModelMismatchError.exit_code, "jpeg-2030")


@pytest.mark.parametrize("argv, words", [
    (["encode", str(IMAGE), "{tmp}/out.png", "--codec", "jpeg"], ("writes an .ncd bitstream",)),
    (["encode", str(IMAGE), "{tmp}/out.jpg"], ("writes an .ncd bitstream",)),
    (["decode", "{ncd}", "{tmp}/out.mp4"], ("image bitstream decodes to",)),
    (["decode", "{ncd}", "{tmp}/out.ncd2"], ("image bitstream decodes to",)),
    (["decode", "{ncd}", "{tmp}/out"], ("image bitstream decodes to",)),
], ids=["encode-png", "encode-jpg", "decode-mp4", "decode-unknown", "decode-no-suffix"])
def test_output_extension_contradicting_the_format_is_refused(tmp_path, capsys, argv, words):
    ncd = tmp_path / "x.ncd"
    assert main(["encode", str(IMAGE), str(ncd), "--codec", "jpeg", "--quality", "50"]) == 0
    capsys.readouterr()
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{ncd}", str(ncd)) for a in argv]
    _one_line_error(capsys, main(argv), UsageError.exit_code, *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.ncd"]  # nothing written


def test_script_that_needs_data_says_what_is_missing(tmp_path):
    env = dict(os.environ, NCODEC_DATA=str(tmp_path / "no-data"))
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "make_perception_data.py"), "--out",
                        str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == UnsupportedInputError.exit_code, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "kodak" in r.stderr and "NCODEC_DATA" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "out").exists()  # checked before any work


def test_demo_takes_comma_separated_qualities(tmp_path, capsys):
    assert main(["demo", "--qualities", "1,2", "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "q=1:" in out and "q=2:" in out and "q=3:" not in out
    _one_line_error(capsys, main(["demo", "--qualities", "1;2", "--out-dir", str(tmp_path)]),
                    UsageError.exit_code, "comma-separated")


def test_outputs_get_the_same_permissions_in_every_modality(tmp_path):
    """Images, video files, frame folders, meshes and point clouds: 0666/0777 less the umask."""
    from ncodec.codecs.imageio import write_image
    from ncodec.codecs.pointio import read_mesh, write_mesh, write_ply
    from ncodec.codecs.videoio import write_video

    old = os.umask(0o022)
    try:
        frames = np.zeros((2, 16, 16, 3), np.uint8)
        write_image(tmp_path / "a.png", frames[0])
        write_video(tmp_path / "a.mkv", frames)
        write_video(tmp_path / "frames", frames)
        write_mesh(tmp_path / "a.obj", read_mesh(ASSETS / "pig.off"))
        write_ply(tmp_path / "a.ply", np.zeros((3, 3)))
        (tmp_path / "ref").write_bytes(b"")
    finally:
        os.umask(old)
    want = stat.S_IMODE((tmp_path / "ref").stat().st_mode)
    for name in ("a.png", "a.mkv", "a.obj", "a.ply", "frames/frame00000.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == want == 0o644, name
    assert stat.S_IMODE((tmp_path / "frames").stat().st_mode) == 0o755


def test_info_rounds_and_gives_the_point_count(tmp_path, capsys):
    ncd = tmp_path / "p.ncd"
    assert main(["encode", str(ASSETS / "pig.off"), str(ncd), "--codec", "octree-adaptive", "--quality", "8"]) == 0
    capsys.readouterr()
    assert main(["info", str(ncd)]) == 0
    out = capsys.readouterr().out
    points = [line for line in out.splitlines() if line.strip().startswith("points:")]
    assert points and int(points[0].split(":")[1]) > 100
    rate = [line for line in out.splitlines() if "bits_per_point" in line][0]
    assert len(rate.split(":")[1].strip().split(".")[1]) == 4  # rounded to 4 decimals
    assert main(["info", str(ncd), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["points"] == int(points[0].split(":")[1])


def test_interrupt_message_is_printed_as_one_line(monkeypatch, capsys, tmp_path):
    from ncodec import api

    def stop(*args, **kwargs):
        raise KeyboardInterrupt("interrupted; run the same command again to resume")

    monkeypatch.setattr(api, "encode", stop)
    assert main(["encode", str(IMAGE), str(tmp_path / "x.ncd")]) == 130
    assert capsys.readouterr().err.strip() == "ncodec: interrupted; run the same command again to resume"


TORCH_FREE = [
    ["--help"], ["models"], ["info", "{ncd}"], ["encode", str(IMAGE), "{tmp}/j.ncd", "--codec", "jpeg"],
    ["decode", "{ncd}", "{tmp}/j.png"], ["encode", str(IMAGE), "{tmp}/w.ncd", "--codec", "webp", "--quality", "50"],
    ["bdrate", "anchor:kodak/vtm", str(REPO / "results" / "kodak" / "jpeg.json")],
    ["plot", str(REPO / "results" / "kodak" / "jpeg.json"), "-o", "{tmp}/rd.png"],
    ["encode", "--help"], ["train", "--help"],
]


def test_quick_paths_never_import_torch(tmp_path):
    """``--help``, ``models``, ``info``, ``bdrate``, ``plot`` and the classical codecs answer without torch."""
    ncd = tmp_path / "x.ncd"
    assert main(["encode", str(IMAGE), str(ncd), "--codec", "jpeg", "--quality", "50"]) == 0
    runs = [[a.replace("{ncd}", str(ncd)).replace("{tmp}", str(tmp_path)) for a in argv] for argv in TORCH_FREE]
    program = (
        "import json, sys\nfrom ncodec.cli import main\nbad = []\n"
        f"for argv in {runs!r}:\n"
        "    try:\n        code = main(argv)\n    except SystemExit as e:\n        code = e.code\n"
        "    if code != 0 or 'torch' in sys.modules:\n        bad.append((argv, code, 'torch' in sys.modules))\n"
        "        break\n"
        "print(json.dumps(bad))\n")
    r = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, MPLBACKEND="Agg"))
    assert r.returncode == 0, r.stderr[-500:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == [], r.stdout[-500:]


def test_eval_is_routed_by_the_codec_modality_first(tmp_path):
    from ncodec.evaluation.routing import eval_route

    clip = ASSETS / "cockatoo_96x64_8f.mkv"
    clips_only = tmp_path / "clips"
    clips_only.mkdir()
    (clips_only / clip.name).write_bytes(clip.read_bytes())
    assert eval_route(ASSETS, "jpeg") == "image"  # images and a clip side by side: the images
    assert eval_route(ASSETS, "mean-scale-hyperprior") == "image"
    assert eval_route(clip, "jpeg") == "video"  # per frame
    assert eval_route(clips_only, "jpeg") == "video"
    assert eval_route(ASSETS, "inr-video") == "video" and eval_route(ASSETS, "x265") == "video"
    assert eval_route(ASSETS / "pig.off", "octree-pc") == "pointcloud"
    with pytest.raises(UsageError, match="3D file"):
        eval_route(ASSETS / "pig.off", "jpeg")
    with pytest.raises(UsageError, match="did you mean 'x265'|did you mean"):
        eval_route(ASSETS, "X265")


@pytest.mark.parametrize("argv", [
    ["encode", str(IMAGE), "{tmp}/a.ncd", "--codec", "avif", "--quality", "nan"],
    ["encode", str(IMAGE), "{tmp}/a.ncd", "--codec", "jpeg", "--quality", "inf"],
    ["encode", str(IMAGE), "{tmp}/a.ncd", "--codec", "jpeg", "--quality", "0"],
    ["encode", str(IMAGE), "{tmp}/a.ncd", "--codec", "hevc-intra", "--quality", "52"],
    ["encode", str(IMAGE), "{tmp}/a.ncd", "--quality", "9"],
    ["encode", str(ASSETS / "pig.off"), "{tmp}/a.ncd", "--codec", "octree-adaptive", "--quality", "nan"],
    ["encode", str(ASSETS / "pig.off"), "{tmp}/a.ncd", "--codec", "draco-mesh", "--quality", "21"],
    ["eval", str(ASSETS), "--codec", "jpeg", "--qualities", "10,nan", "-o", "{tmp}/r.json"],
    ["eval", str(ASSETS), "--codec", "jpeg", "--qualities", "10,,30", "-o", "{tmp}/r.json"],
    ["eval", str(ASSETS / "cockatoo_96x64_8f.mkv"), "--codec", "x265", "--qualities", "27,99", "-o", "{tmp}/v.json"],
    ["eval", str(ASSETS), "--codec", "jpeg", "--qualities", "10", "-o", "{tmp}/r.png"],
    ["plot", str(REPO / "results" / "kodak" / "jpeg.json"), "-o", "{tmp}/p.jpg"],
    ["demo", "--qualities", "1,9", "--out-dir", "{tmp}/demo"],
    ["encode", str(IMAGE), "{tmp}/a.ncd", "--quality", "abc"],
    ["encode", str(IMAGE), "{tmp}/a.ncd", "--coder", "bogus"],
    ["train", "--codec", "jpeg", "--out", "{tmp}/t"],
], ids=["nan", "inf", "jpeg-0", "qp-52", "learned-9", "3d-nan", "mesh-21", "list-nan", "list-empty-item",
        "crf-99", "eval-png", "plot-jpg", "demo-9", "not-a-number", "bad-coder", "bad-choice"])
def test_bad_arguments_are_one_line_usage_errors_before_any_work(tmp_path, capsys, argv):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    _one_line_error(capsys, code, UsageError.exit_code)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a partial result or demo output


def test_mesh_files_carry_their_own_name_not_a_temporary_one(tmp_path):
    from ncodec.codecs.pointio import read_mesh, write_mesh

    write_mesh(tmp_path / "pig.obj", read_mesh(ASSETS / "pig.off"))
    head = (tmp_path / "pig.obj").read_text().splitlines()[:3]
    assert any(line.strip() == "# object name: pig" for line in head), head
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pig.obj"]


def test_messages_point_at_the_fix(tmp_path, capsys):
    _one_line_error(capsys, main(["encode", str(IMAGE), str(tmp_path / "a.ncd"), "--codec", "hevc"]),
                    UsageError.exit_code, "did you mean 'hevc-intra'")
    _one_line_error(capsys, main(["info", str(IMAGE)]), 3, IMAGE.name, "not an ncodec bitstream")
    draco = str(REPO / "results" / "3d" / "bunny00-draco.json")
    _one_line_error(capsys, main(["bdrate", draco, draco]), UnsupportedInputError.exit_code, "--metric", "d1_psnr")
