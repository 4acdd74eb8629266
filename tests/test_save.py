# SPDX-License-Identifier: GPL-2.0-or-later
"""``--save DIR`` writes only inside DIR: never through a symlink (DIR's or a file's),
never by opening a FIFO or a device, into an empty or new DIR unless ``--overwrite``;
and a NUL byte in any path is a one-line usage error, from the CLI and the API alike.

The expected state is read back with os.lstat and the files themselves, not with
pykexec.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pykexec.commands.cli import main
from pykexec.core.options import LoadOptions
from pykexec.errors import OptionError, SaveError, SystemInfoError
from pykexec.system import loader
from pykexec.system.sysinfo import SystemView
from tests.kernels import make_vmlinux
from tests.machines import pseries, write_sysroot


@pytest.fixture
def machine(tmp_path: Path) -> tuple[Path, Path]:
    root = write_sysroot(tmp_path / "root", pseries())
    kernel = tmp_path / "vmlinux"
    kernel.write_bytes(make_vmlinux(size=0x40000))
    return root, kernel


def _save(machine: tuple[Path, Path], target: Path, *extra: str) -> int:
    root, kernel = machine
    argv = ["-c", "-l", str(kernel), "--dry-run", "--sysroot", str(root), f"--save={target}"]
    return main([*argv, *extra])


def _err_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def test_new_directory_gets_the_plan(machine: tuple[Path, Path], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "new"
    assert _save(machine, out) == 0
    names = sorted(os.listdir(out))
    assert names[-1] == "plan.json" and any(n.endswith(".dtb") for n in names)
    assert all(stat.S_ISREG(os.lstat(out / n).st_mode) for n in names)


def test_non_empty_directory_is_refused_unless_overwrite(
    machine: tuple[Path, Path], tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "full"
    out.mkdir()
    (out / "plan.json").write_text("mine\n")
    assert _save(machine, out) == 2
    assert "--overwrite" in _err_line(capsys)
    assert (out / "plan.json").read_text() == "mine\n"
    assert _save(machine, out, "--overwrite") == 0
    assert (out / "plan.json").read_text().startswith("{")


def test_overwrite_needs_save(machine: tuple[Path, Path], capsys) -> None:  # type: ignore[no-untyped-def]
    root, kernel = machine
    assert main(["-l", str(kernel), "--dry-run", "--sysroot", str(root), "--overwrite"]) == 2


def test_directory_that_is_a_symlink_is_refused(
    machine: tuple[Path, Path], tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "link"
    link.symlink_to(elsewhere)
    for spelled in (str(link), f"{link}/"):
        assert _save(machine, Path(spelled), "--overwrite") == 2
        assert "symlink" in _err_line(capsys)
    assert os.listdir(elsewhere) == []


def test_symlinks_inside_are_replaced_not_followed(
    machine: tuple[Path, Path], tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """As root in a directory another user made: their links to any file stay links
    to untouched files; pykexec's files take the names."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    out = tmp_path / "shared"
    out.mkdir()
    for name in ("plan.json", "00-kernel.bin", "01-purgatory.bin", "02-device-tree.dtb"):
        (out / name).symlink_to(victim)
    assert _save(machine, out) == 2  # not empty
    _err_line(capsys)
    assert _save(machine, out, "--overwrite") == 0
    assert victim.read_text() == "precious\n"
    assert not any(os.path.islink(out / n) for n in os.listdir(out))


def test_fifo_and_device_are_never_opened(
    machine: tuple[Path, Path], tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """A FIFO where DIR or a file should be: refused or unlinked, never opened (an open
    would block here for ever: the test would hang rather than fail)."""
    fifo_dir = tmp_path / "fifo"
    os.mkfifo(fifo_dir)
    assert _save(machine, fifo_dir) == 2
    assert "not a directory" in _err_line(capsys)
    assert _save(machine, Path("/dev/null")) == 2
    assert "not a directory" in _err_line(capsys)
    out = tmp_path / "with-fifo"
    out.mkdir()
    os.mkfifo(out / "plan.json")
    assert _save(machine, out, "--overwrite") == 0
    assert stat.S_ISREG(os.lstat(out / "plan.json").st_mode)


def test_subdirectory_of_the_same_name_is_refused(
    machine: tuple[Path, Path], tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "dirs"
    (out / "plan.json").mkdir(parents=True)
    (out / "plan.json" / "keep").write_text("x")
    assert _save(machine, out, "--overwrite") == 2
    _err_line(capsys)
    assert (out / "plan.json" / "keep").read_text() == "x"


def test_missing_parent_is_not_created(machine: tuple[Path, Path], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert _save(machine, tmp_path / "no" / "such") == 1
    _err_line(capsys)
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["-l", "{k}\0x"],
        ["-l", "{k}", "--initrd=a\0b"],
        ["-c", "-l", "{k}", "--dtb=a\0b"],
        ["-l", "{k}", "--sysroot=a\0b"],
        ["-l", "{k}", "--save=a\0b"],
        ["inspect", "a\0b"],
    ],
    ids=["kernel", "initrd", "dtb", "sysroot", "save", "inspect"],
)
def test_nul_byte_in_a_path_is_one_usage_line(
    machine: tuple[Path, Path], argv: list[str], capsys
) -> None:  # type: ignore[no-untyped-def]
    _, kernel = machine
    words = [w.format(k=kernel) for w in argv]
    assert main(words if words[0] == "inspect" else [*words, "--dry-run"]) == 2
    assert "NUL" in _err_line(capsys)


@pytest.mark.parametrize("field", ["kernel", "initrd", "dtb"])
def test_nul_byte_in_an_api_path_is_a_kexec_error(
    machine: tuple[Path, Path], field: str, tmp_path: Path
) -> None:
    root, kernel = machine
    paths = {"kernel": kernel, field: Path(f"{tmp_path}/a\0b")}
    with pytest.raises(OptionError) as err:
        loader.plan(LoadOptions(**paths), SystemView(root))  # type: ignore[arg-type]
    assert err.value.problem == "nul-byte"
    plan = loader.plan(LoadOptions(kernel=kernel), SystemView(root))
    with pytest.raises(SaveError) as save_err:
        loader.save_plan(plan, Path(f"{tmp_path}/a\0b"), {})
    assert save_err.value.problem == "nul-byte"
    with pytest.raises(SystemInfoError):
        SystemView(f"{tmp_path}/a\0b")
