"""The Flink runtime environment: a virtual environment with apache-flink pinned, in the user cache.

PyFlink cannot live next to the other engines (apache-flink 2.3 pins pyarrow<17, numpy<2.2 and
pandas<2.3 through apache-beam), so unistack runs it in its own interpreter. ``unistack engines install
flink`` creates ``<cache_dir>/envs/flink-2.3.0`` (see :func:`unistack.config.cache_dir`); the option
``flink.python`` (environment ``UNISTACK_FLINK_PYTHON``) points at another interpreter instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from typing import TextIO

from unistack.config import cache_dir, get_option
from unistack.errors import EngineNotAvailableError, UnistackError

FLINK_VERSION = "2.3.0"
REQUIREMENT = f"apache-flink=={FLINK_VERSION}"
ENV_NAME = f"flink-{FLINK_VERSION}"
MARKER = ".unistack-flink-ready"
# apache-flink 2.3 publishes wheels for these; the newest available one is used.
SUPPORTED_PYTHONS = ("3.11", "3.12", "3.10", "3.9")
INSTALL_COMMAND = "unistack engines install flink"


def env_dir() -> str:
    """Where ``unistack engines install flink`` puts the environment."""
    return os.path.join(cache_dir(), "envs", ENV_NAME)


def _env_python(directory: str) -> str:
    return os.path.join(directory, "bin", "python")


def find_python() -> str:
    """The interpreter that runs the Flink worker: ``flink.python`` / ``UNISTACK_FLINK_PYTHON`` if set,
    else the provisioned environment. Raises :class:`EngineNotAvailableError` naming the install command.

    Examples
    --------
    >>> import unistack as us
    >>> with us.config(flink_python="/usr/bin/python3"):
    ...     find_python()
    '/usr/bin/python3'
    """
    configured = get_option("flink.python")
    if configured:
        if not os.path.exists(configured):
            raise EngineNotAvailableError(
                f"flink.python (or UNISTACK_FLINK_PYTHON) is {configured!r}, which does not exist. Point it at "
                f"a Python that has {REQUIREMENT}, or unset it and run: {INSTALL_COMMAND}"
            )
        return str(configured)
    directory = env_dir()
    python = _env_python(directory)
    if os.path.exists(python) and os.path.exists(os.path.join(directory, MARKER)):
        return python
    raise EngineNotAvailableError(
        "the Flink engine runs in its own Python environment (PyFlink cannot share this one), which is not "
        f"installed. Create it with: {INSTALL_COMMAND}   (or set flink.python / UNISTACK_FLINK_PYTHON to a "
        f"Python that has {REQUIREMENT})"
    )


def _python_version(python: str) -> str | None:
    try:
        out = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def base_interpreter() -> str:
    """A Python (3.9 to 3.12) to build the environment with: this one if it fits, else one on PATH."""
    mine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if mine in SUPPORTED_PYTHONS and not hasattr(sys, "real_prefix"):
        base = getattr(sys, "_base_executable", None) or sys.executable
        if base and os.path.exists(base):
            return base
    for version in SUPPORTED_PYTHONS:
        found = shutil.which(f"python{version}")
        if found and _python_version(found) == version:
            return found
    raise UnistackError(
        f"{REQUIREMENT} needs Python {', '.join(sorted(SUPPORTED_PYTHONS))}; none was found on PATH. Install "
        "one (e.g. python3.11) and run the command again, or set flink.python to a Python that has "
        f"{REQUIREMENT}."
    )


def _run(cmd: list[str], out: TextIO) -> None:
    """Run a command, streaming its output (pip's progress) to ``out``."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    assert proc.stdout is not None
    for line in proc.stdout:
        out.write("    " + line)
        out.flush()
    if proc.wait() != 0:
        raise UnistackError(f"command failed with exit code {proc.returncode}: {' '.join(cmd)}")


def install(force: bool = False, out: TextIO | None = None) -> str:
    """Create the Flink environment (a virtual environment with apache-flink pinned) and return its Python.

    Shows progress on ``out`` (default: standard error). Does nothing when it is already installed,
    unless ``force``. Needs network access to PyPI (apache-flink-libraries is about 310 MB).

    Examples
    --------
    >>> from unistack.backends.flink import provision
    >>> provision.install()  # doctest: +SKIP
    '/home/me/.cache/unistack/envs/flink-2.3.0/bin/python'
    """
    out = out or sys.stderr
    directory = env_dir()
    python = _env_python(directory)
    if not force and os.path.exists(os.path.join(directory, MARKER)) and os.path.exists(python):
        out.write(f"Flink environment already installed: {directory}\n(use --force to recreate it)\n")
        return python
    started = time.monotonic()
    base = base_interpreter()
    out.write(f"[1/4] creating a virtual environment in {directory} with {base}\n")
    out.flush()
    if os.path.exists(directory):
        shutil.rmtree(directory)
    os.makedirs(os.path.dirname(directory), exist_ok=True)
    _run([base, "-m", "venv", directory], out)
    out.write("[2/4] upgrading pip\n")
    out.flush()
    _run([python, "-m", "pip", "install", "--upgrade", "pip"], out)
    out.write(f"[3/4] installing {REQUIREMENT} (about 400 MB with its dependencies; this takes a few minutes)\n")
    out.flush()
    _run([python, "-m", "pip", "install", "--progress-bar", "on", REQUIREMENT], out)
    out.write("[4/4] checking that PyFlink and Java work\n")
    out.flush()
    _run([python, "-c", "import pyflink, pyarrow; from pyflink.find_flink_home import _find_flink_home; "
                        "print('pyflink home', _find_flink_home(), 'pyarrow', pyarrow.__version__)"], out)
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        out.write("warning: no Java found (java on PATH or JAVA_HOME); Flink needs Java 11 or 17.\n")
    with open(os.path.join(directory, MARKER), "w") as fh:
        fh.write(REQUIREMENT + "\n")
    out.write(f"Flink environment ready in {time.monotonic() - started:.0f} s: {python}\n")
    out.flush()
    return python
