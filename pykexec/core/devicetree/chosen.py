# SPDX-License-Identifier: GPL-2.0-or-later
"""The next kernel's command line and /chosen: built, encoded, read back. Pure.

The one place that knows how a command line becomes the bytes a kernel reads: the
``bootargs`` property of /chosen (kexec_load) and kexec_file_load's ``cmdline`` are
both the text, UTF-8 with the original bytes of any argument that was not UTF-8
(surrogateescape, :mod:`.props`), then a NUL (DTSpec v0.4 §3.6 ``bootargs`` is a
``<string>``; kernel/kexec_file.c checks ``cmdline[cmdline_len - 1] == '\\0'``).

It also writes /chosen's initrd properties and reads back what a tree says: its
command line (a --dtb's own) and the ``root=`` word in it (the running tree's).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pykexec.core.devicetree.props import TEXT_ENCODING, TEXT_ERRORS

if TYPE_CHECKING:
    from pykexec.core.devicetree.fdt import DeviceTree
    from pykexec.core.devicetree.tree import Node
    from pykexec.core.memory import Range
    from pykexec.core.options import LoadOptions

#: The node that carries the command line and the initrd (DTSpec v0.4 §3.6).
CHOSEN = "chosen"
#: /chosen's command line property.
BOOTARGS = "bootargs"
#: /chosen's initrd bounds (drivers/of/fdt.c early_init_dt_check_for_initrd).
INITRD_START = "linux,initrd-start"
INITRD_END = "linux,initrd-end"


def command_line(
    opts: LoadOptions,
    running: str,
    *,
    crash: bool | None = None,
    old_root: str | None = None,
    given: DeviceTree | None = None,
) -> str:
    """The next kernel's command line from the options, as kexec-tools builds it on ppc64.

    ``running`` is the running /proc/cmdline, reused with --reuse-cmdline: its
    ``BOOT_IMAGE=`` (and for a crash kernel, ``crash`` defaulting to ``opts.crash``,
    its ``crashkernel=``) words are dropped and --append follows.  For kexec_load,
    ``old_root`` is the running tree's ``root=`` word, added when the line has none
    unless --dt-no-old-root, and ``given`` the --dtb, whose own bootargs are
    kept unless a command line was asked for (petitboot passes --dtb with --append and
    means both).
    """
    if given is not None and opts.command_line is None and not opts.reuse_cmdline:
        return tree_bootargs(given.root)
    words: list[str] = []
    if opts.reuse_cmdline:
        crash = opts.crash if crash is None else crash
        drop = ("BOOT_IMAGE=", "crashkernel=") if crash else ("BOOT_IMAGE=",)
        words += [w for w in running.split() if not w.startswith(drop)]
    if opts.command_line:
        words.append(opts.command_line.strip())
    text = " ".join(words)
    if not old_root or opts.dt_no_old_root or any(w.startswith("root=") for w in text.split()):
        return text
    return f"{text} {old_root}".strip()


def encode_bootargs(text: str) -> bytes:
    """A command line as the NUL-terminated bytes the kernel reads."""
    return text.encode(TEXT_ENCODING, TEXT_ERRORS) + b"\0"


def root_word(bootargs: bytes) -> str | None:
    """The ``root=`` word of a /chosen/bootargs value, if any (bytes that are not UTF-8
    read as U+FFFD, as they always have here)."""
    words = bootargs.rstrip(b"\0").decode("utf-8", "replace").split()
    return next((w for w in words if w.startswith("root=")), None)


def old_root_param(root: Node) -> str | None:
    """The ``root=`` word of the running kernel's /chosen/bootargs, if any."""
    chosen = root.child(CHOSEN)
    return root_word(chosen.optional(BOOTARGS) or b"") if chosen is not None else None


def tree_bootargs(root: Node) -> str:
    """The command line a tree's /chosen carries ("" when it has none): a --dtb's own."""
    chosen = root.child(CHOSEN)
    return chosen.get_string(BOOTARGS) if chosen is not None and chosen.has(BOOTARGS) else ""


def set_chosen(root: Node, bootargs: str, initrd: Range | None) -> Node:
    """Set /chosen (made if missing) for the next kernel: its command line, and the
    initrd's bounds or none (never left pointing at an earlier boot's initrd)."""
    chosen = root.ensure_child(CHOSEN)
    chosen.set(BOOTARGS, encode_bootargs(bootargs))
    if initrd is not None:
        set_initrd(chosen, initrd)
    else:
        chosen.delete(INITRD_START)
        chosen.delete(INITRD_END)
    return chosen


def set_initrd(chosen: Node, initrd: Range) -> None:
    """``linux,initrd-start``/``-end`` as 8-byte big-endian cells (what kexec-tools and
    the kernel's kexec_file code write; the kernel reads 4 or 8 bytes)."""
    chosen.set_u64(INITRD_START, initrd.start)
    chosen.set_u64(INITRD_END, initrd.end)
