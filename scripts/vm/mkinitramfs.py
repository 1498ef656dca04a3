"""Write the initramfs that scripts/stock-kernel.sh boots: a gzip'd newc cpio.

It holds only what is needed before the host's root file system is mounted:
a static busybox (also as /bin/sh), the two init scripts, /dev/console, and the kernel modules
that Debian builds as modules but the 9p/overlay root needs (virtio_pci,
9pnet_virtio, 9p, overlay), with their dependencies taken from the kernel
package's own modules.dep (so a new kernel ABI needs no edit here).

Written in Python rather than with cpio(1) so that the host needs no cpio
package, and because a device node (/dev/console) can be put in the archive
without creating one on the host.
"""

from __future__ import annotations

import argparse
import gzip
import os
import stat
import sys
from pathlib import Path

# The modules the init script loads, in the order it needs them; their
# dependencies are added in front of each from modules.dep.
ROOT_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")


def read_modules_dep(moddir: Path) -> dict[str, tuple[str, list[str]]]:
    """Module name -> (relative path, relative paths of all its dependencies)."""
    deps: dict[str, tuple[str, list[str]]] = {}
    for line in (moddir / "modules.dep").read_text().splitlines():
        path, rest = line.split(":", 1)
        name = Path(path).name.split(".ko")[0].replace("-", "_")
        deps[name] = (path, rest.split())
    return deps


def load_order(moddir: Path, wanted: tuple[str, ...]) -> list[str]:
    """Relative module paths in an order where every module follows its deps."""
    deps = read_modules_dep(moddir)
    by_path = {entry[0]: name for name, entry in deps.items()}
    builtin = set()
    builtin_file = moddir / "modules.builtin"
    if builtin_file.exists():
        for line in builtin_file.read_text().splitlines():
            builtin.add(Path(line).name.split(".ko")[0].replace("-", "_"))
    order: list[str] = []

    def visit(name: str) -> None:
        path, needs = deps[name]
        if path in order:
            return
        for dep in needs:
            visit(by_path[dep])
        order.append(path)

    for name in wanted:
        if name in deps:
            visit(name)
        elif name not in builtin:
            sys.exit(f"mkinitramfs: module {name} is neither in modules.dep nor built in")
    return order


class Newc:
    """Minimal writer for the "new ASCII" cpio format the kernel unpacks."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev=(0, 0)) -> None:
        encoded = name.encode() + b"\0"
        fields = (self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
        self.ino += 1
        self.out += b"070701" + b"".join(b"%08X" % f for f in fields) + encoded
        self.out += b"\0" * (-len(self.out) % 4)
        self.out += data
        self.out += b"\0" * (-len(self.out) % 4)

    def directory(self, name: str) -> None:
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, perm: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | perm, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name: str, major: int, minor: int) -> None:
        self._entry(name, stat.S_IFCHR | 0o600, rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return bytes(self.out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moddir", type=Path, required=True, help="lib/modules/<version>")
    parser.add_argument("--busybox", type=Path, required=True, help="a statically linked busybox")
    parser.add_argument("--init", type=Path, required=True, help="stage 1 init script")
    parser.add_argument("--stage2", type=Path, required=True, help="stage 2 script")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    archive = Newc()
    for directory in ("bin", "dev", "proc", "sys", "modules", "job", "lower", "rw", "newroot"):
        archive.directory(directory)
    # The kernel opens /dev/console for PID 1 before /init runs; without the
    # node the init script's first messages would go nowhere.
    archive.chardev("dev/console", 5, 1)
    archive.file("bin/busybox", args.busybox.read_bytes(), 0o755)
    # For the init's "#!/bin/sh" (busybox installs its other applets itself).
    archive.symlink("bin/sh", "busybox")
    archive.file("init", args.init.read_bytes(), 0o755)
    archive.file("stage2", args.stage2.read_bytes(), 0o755)
    names = []
    for index, relpath in enumerate(load_order(args.moddir, ROOT_MODULES)):
        name = f"{index:02d}-{Path(relpath).name}"
        archive.file(f"modules/{name}", (args.moddir / relpath).read_bytes())
        names.append(name)
    archive.file("modules/order", "".join(f"{n}\n" for n in names).encode())

    tmp = args.out.with_name(args.out.name + f".tmp{os.getpid()}")
    # Level 1: the archive is rebuilt rarely, but there is no reason to wait.
    tmp.write_bytes(gzip.compress(archive.finish(), compresslevel=1))
    tmp.replace(args.out)


if __name__ == "__main__":
    main()
