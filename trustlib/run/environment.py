"""Reading the pinned lock file (used to keep environment.yml in step with requirements.lock)."""

from __future__ import annotations

import re
from pathlib import Path

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)\s*(?:;\s*(.+))?$")


def locked_pins(lock: Path, python: str = "3.11", platform: str = "linux") -> dict[str, str]:
    """``{name: version}`` of the lock's pins whose environment markers hold on Linux/Python 3.11."""
    from packaging.markers import Marker

    env = {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": platform,
           "platform_system": "Linux", "os_name": "posix", "implementation_name": "cpython",
           "platform_python_implementation": "CPython", "platform_machine": "x86_64"}
    pins = {}
    for line in Path(lock).read_text().splitlines():
        m = PIN.match(line.strip())
        if not m:
            continue
        name, version, marker = m.groups()
        if marker and not Marker(marker).evaluate(env):
            continue
        pins[name.lower()] = version
    return pins
