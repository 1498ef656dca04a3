"""Real 802.11 for the namespace lab: mac80211_hwsim radios, hostapd APs, a wpa_supplicant MN.

Needs a kernel with ``mac80211_hwsim`` (Debian's stock kernel: the stock-kernel
stage runs it under QEMU) and hostapd, wpa_supplicant and iw on the host. Each
AP radio goes into its MAG's namespace, where hostapd bridges it to the MAG's
access interface (the MAG is the AP host, its trigger reads hostapd's control
socket); the MN's radio goes into the MN's namespace, where an unmodified
wpa_supplicant associates and roams. hwsim's medium carries every frame between
radios on the same channel; ``hwsim0`` in the initial namespace sees them all.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .netlab import Namespace, sh, wait_for

SSID = "pmipv6-lab"
CHANNEL = 1
FREQ = 2412
"""One channel: a scan under QEMU's emulated clock stays short."""
PASSPHRASE = "pmipv6-lab-throwaway"
"""WPA2-PSK for the simulated radios only (nothing leaves the VM)."""

_SYSFS = Path("/sys/class/ieee80211")


class HwsimUnavailable(RuntimeError):
    """The kernel has no mac80211_hwsim (or the tools are missing)."""


def tools_missing() -> list[str]:
    return [t for t in ("hostapd", "wpa_supplicant", "wpa_cli", "iw") if not _which(t)]


def _which(tool: str) -> bool:
    # /usr/sbin may be missing from a test runner's PATH; hostapd and iw live there.
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which(tool, path=path) is not None


def load_radios(count: int) -> list[str]:
    """Load mac80211_hwsim with ``count`` radios; their phy names, in creation order.

    The module is loaded fresh (unloaded first if a previous test left it), so
    the radios are exactly these and their MACs are hwsim's 02:00:00:00:NN:00.
    """
    missing = tools_missing()
    if missing:
        raise HwsimUnavailable(f"not installed: {', '.join(missing)} (run scripts/setup.sh)")
    unload()
    out = sh("modprobe", "mac80211_hwsim", f"radios={count}", check=False)
    if out.returncode != 0:
        raise HwsimUnavailable(f"modprobe mac80211_hwsim: {out.stderr.strip()}")
    phys = wait_for(
        lambda: _hwsim_phys() if len(_hwsim_phys()) == count else None,
        timeout=10,
        what=f"{count} hwsim radios",
    )
    return phys


def _hwsim_phys() -> list[str]:
    def index(phy: Path) -> int:
        return int((phy / "index").read_text())

    found = [p for p in _SYSFS.iterdir() if _is_hwsim(p)] if _SYSFS.exists() else []
    return [p.name for p in sorted(found, key=index)]


def _is_hwsim(phy: Path) -> bool:
    with contextlib.suppress(OSError):
        return "hwsim" in os.readlink(phy / "device" / "driver")
    return False


def unload() -> None:
    """Remove the radios (a namespace's radios come back to the initial one when it goes)."""
    sh("modprobe", "-r", "mac80211_hwsim", check=False)


def phy_mac(phy: str) -> str:
    return (_SYSFS / phy / "macaddress").read_text().strip()


def move_radio(phy: str, ns: Namespace, ifname: str) -> None:
    """Move ``phy`` (and its one interface) into ``ns``, renamed ``ifname``, down."""
    (current,) = os.listdir(_SYSFS / phy / "device" / "net")
    sh("iw", "phy", phy, "set", "netns", "name", ns.name)
    if current != ifname:
        ns.run("ip", "link", "set", current, "name", ifname)


def _stop(proc: subprocess.Popen | None) -> None:
    """Terminate a daemon of ours, killing it after 10 s."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class AccessPoint:
    """hostapd on one radio, bridged to the MAG's access interface (the MAG is the AP host)."""

    name: str
    ns: Namespace
    radio: str
    """The AP's radio interface in ``ns``; its MAC is the BSSID."""
    bridge: str
    work: Path
    bssid: str
    proc: subprocess.Popen | None = None

    @property
    def ctrl_dir(self) -> Path:
        return self.work / f"hostapd-{self.name}"

    @property
    def control(self) -> Path:
        """hostapd's control socket: what the MAG's hostapd trigger attaches to."""
        return self.ctrl_dir / self.radio

    @property
    def log(self) -> Path:
        return self.work / f"hostapd-{self.name}.log"

    def start(self) -> None:
        conf = self.work / f"hostapd-{self.name}.conf"
        conf.write_text(
            "\n".join(
                [
                    f"interface={self.radio}",
                    f"bridge={self.bridge}",
                    "driver=nl80211",
                    f"ctrl_interface={self.ctrl_dir}",
                    f"ssid={SSID}",
                    "hw_mode=g",
                    f"channel={CHANNEL}",
                    "wpa=2",
                    "wpa_key_mgmt=WPA-PSK",
                    "rsn_pairwise=CCMP",
                    f"wpa_passphrase={PASSPHRASE}",
                    # Info-level 802.11 and WPA lines with timestamps, for the log.
                    "logger_stdout=-1",
                    "logger_stdout_level=2",
                    "",
                ]
            )
        )
        # The radio port carries no IPv6 of its own: only the bridge (acc0) is the MAG's link.
        self.ns.sysctl(f"net.ipv6.conf.{self.radio}.disable_ipv6", "1")
        with self.log.open("w") as log:
            self.proc = self.ns.popen("hostapd", "-t", str(conf), stdout=log, stderr=log)
        wait_for(
            lambda: self.control.exists() or self._died(),
            timeout=30,
            what=f"hostapd of {self.name} ({self.log})",
        )
        if self._died():
            raise RuntimeError(f"hostapd of {self.name} exited: {self.log.read_text()[-2000:]}")

    def _died(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def cli(self, *args: str) -> str:
        return self.ns.run("hostapd_cli", "-p", str(self.ctrl_dir), "-i", self.radio, *args).stdout

    def stations(self) -> list[str]:
        """MACs of the stations associated now (hostapd's own list)."""
        return [line.strip() for line in self.cli("list_sta").splitlines() if line.strip()]

    def stop(self) -> None:
        _stop(self.proc)


@dataclass
class Station:
    """An unmodified wpa_supplicant on the MN's radio (``wlan0`` in the MN's namespace)."""

    name: str
    ns: Namespace
    work: Path
    ifname: str = "wlan0"
    proc: subprocess.Popen | None = None
    history: list[tuple[str, float]] = field(default_factory=list)
    """(BSSID, time.time() when the association was seen complete)."""

    @property
    def ctrl_dir(self) -> Path:
        return self.work / f"wpa-{self.name}"

    @property
    def log(self) -> Path:
        return self.work / f"wpa_supplicant-{self.name}.log"

    def start(self, bssid: str) -> None:
        """Start wpa_supplicant with the one network, pinned to ``bssid`` (the first AP)."""
        conf = self.work / f"wpa_supplicant-{self.name}.conf"
        conf.write_text(
            f"ctrl_interface={self.ctrl_dir}\n"
            "ap_scan=1\n"
            "network={\n"
            f'    ssid="{SSID}"\n'
            f'    psk="{PASSPHRASE}"\n'
            "    key_mgmt=WPA-PSK\n"
            "    proto=RSN\n"
            f"    bssid={bssid}\n"
            f"    scan_freq={FREQ}\n"
            f"    freq_list={FREQ}\n"
            "}\n"
        )
        with self.log.open("w") as log:
            self.proc = self.ns.popen(
                "wpa_supplicant",
                "-t",
                "-i",
                self.ifname,
                "-D",
                "nl80211",
                "-c",
                str(conf),
                stdout=log,
                stderr=log,
            )
        wait_for(
            (self.ctrl_dir / self.ifname).exists,
            timeout=30,
            what=f"wpa_supplicant of {self.name} ({self.log})",
        )

    def cli(self, *args: str) -> str:
        return self.ns.run("wpa_cli", "-p", str(self.ctrl_dir), "-i", self.ifname, *args).stdout

    def status(self) -> dict[str, str]:
        return dict(line.split("=", 1) for line in self.cli("status").splitlines() if "=" in line)

    def wait_associated(self, bssid: str, timeout: float = 60) -> dict[str, str]:
        def done():
            status = self.status()
            ok = status.get("wpa_state") == "COMPLETED" and status.get("bssid") == bssid
            return status if ok else None

        status = wait_for(
            done,
            timeout=timeout,
            interval=0.05,
            what=f"{self.name} associated with {bssid} ({self.log})",
        )
        self.history.append((bssid, time.time()))
        return status

    def roam(self, bssid: str) -> None:
        """Reassociate with ``bssid`` (an 802.11 Reassociation Request, as a roaming STA sends).

        The network's BSSID pin moves first; ``ROAM`` needs the target in the scan results.
        """
        self._ok(self.cli("bssid", "0", bssid))
        if bssid.lower() not in self.cli("scan_results").lower():
            self._ok(self.cli("scan"))
            wait_for(
                lambda: bssid.lower() in self.cli("scan_results").lower(),
                timeout=30,
                what=f"{bssid} in {self.name}'s scan results",
            )
        self._ok(self.cli("roam", bssid))

    @staticmethod
    def _ok(reply: str) -> None:
        if not re.match(r"\s*OK\b", reply):
            raise RuntimeError(f"wpa_cli answered {reply.strip()!r}")

    def stop(self) -> None:
        _stop(self.proc)
