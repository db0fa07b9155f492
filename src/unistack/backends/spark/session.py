"""The Spark session unistack uses: started lazily on first use, reused, stopped cleanly at exit.

Which session is built depends only on configuration (:mod:`unistack.config`):

- ``spark.remote`` (``sc://host:15002``): a Spark Connect client session;
- otherwise ``spark.master`` (``local[*]`` by default, or ``spark://host:7077``, ``yarn``, ...): a classic
  session whose driver runs in this process.

Every session is tuned the same way: UTC session time zone (so naive timestamps stay naive as
``TIMESTAMP_NTZ`` and aware ones are instants), ANSI mode off (integer overflow wraps; unistack uses
``try_cast`` so bad casts give null), case-sensitive column names, Arrow transfers on, UI and console
progress bars off, and few shuffle partitions (``spark.shuffle_partitions``) for small machines.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from unistack.backends.persist import store
from unistack.config import get_option
from unistack.errors import EngineError, EngineNotAvailableError
from unistack.errors import message_head as first_line

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ENGINE = "spark"

# Settings every unistack Spark session gets (spark.conf entries can override the tuning ones).
BASE_CONF: dict[str, str] = {
    "spark.app.name": "unistack",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.caseSensitive": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
    # Parquet INT64 TIMESTAMP(NANOS) (pyarrow's default for ns data) is read as a long and converted
    # to microseconds by the translator; Spark refuses it otherwise.
    "spark.sql.legacy.parquet.nanosAsLong": "true",
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.execution.pythonUDF.arrow.enabled": "true",
    # Spark's RemoveRedundantAliases breaks a plan whose union inputs share one subtree (a distinct frame
    # concatenated with a filter of itself, then a window): PLAN_VALIDATION_FAILED_RULE_IN_BATCH, "the plan
    # was previously resolved and now became unresolved" (found by a 5,000-plan conformance run)
    "spark.sql.optimizer.excludedRules": "org.apache.spark.sql.catalyst.optimizer.RemoveRedundantAliases",
}


EXIT_ON_OOM = "-XX:+ExitOnOutOfMemoryError"


@dataclass(frozen=True)
class SessionSettings:
    """What a session was built from; a different value means the session must be rebuilt."""

    master: str
    remote: str | None
    shuffle_partitions: int
    driver_memory: str
    extra: tuple[tuple[str, str], ...]

    @classmethod
    def current(cls) -> SessionSettings:
        extra = get_option("spark.conf")
        return cls(
            master=str(get_option("spark.master")),
            remote=get_option("spark.remote"),
            shuffle_partitions=int(get_option("spark.shuffle_partitions")),
            driver_memory=str(get_option("spark.driver_memory")),
            extra=tuple(sorted(extra.items())),
        )

    def conf(self) -> dict[str, str]:
        """The Spark settings of a session built from these settings."""
        conf = dict(BASE_CONF)
        conf["spark.sql.shuffle.partitions"] = str(self.shuffle_partitions)
        if self.remote is None:
            conf["spark.driver.memory"] = self.driver_memory
            conf["spark.pyspark.python"] = sys.executable
            conf["spark.pyspark.driver.python"] = sys.executable
            if self.master.startswith("local"):
                conf["spark.driver.host"] = "127.0.0.1"
                conf["spark.driver.bindAddress"] = "127.0.0.1"
        conf.update(dict(self.extra))
        if self.remote is None:
            # A driver that runs out of heap while receiving task results loses the thread that delivers them
            # and the job then waits forever; a JVM that exits instead turns that into an engine error (the
            # query fails over, the next one starts a new session).
            own = conf.get("spark.driver.extraJavaOptions", "")
            if EXIT_ON_OOM not in own:
                conf["spark.driver.extraJavaOptions"] = f"{own} {EXIT_ON_OOM}".strip()
        return conf

    @property
    def target(self) -> str:
        return self.remote if self.remote is not None else self.master


class SessionManager:
    """Holds the one Spark session of this process (Spark allows one active context per process)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._session: SparkSession | None = None
        self._settings: SessionSettings | None = None
        self.startup_seconds: float | None = None
        self._atexit_registered = False

    @property
    def active(self) -> SparkSession | None:
        """The session if one is running (never starts one)."""
        return self._session

    @property
    def settings(self) -> SessionSettings | None:
        return self._settings

    def get(self) -> SparkSession:
        """The session for the current configuration, started on first use (and restarted when the
        configuration names another master or remote).

        Examples
        --------
        >>> from unistack.backends.spark.session import sessions
        >>> spark = sessions.get()  # doctest: +SKIP
        """
        wanted = SessionSettings.current()
        with self._lock:
            if self._session is not None and self._settings == wanted and self._alive():
                return self._session
            if self._session is not None:
                if self._settings == wanted:
                    self.forget()  # the same settings but a dead session: the JVM or cluster went away
                else:
                    self.stop()
            self._session = self._start(wanted)
            self._settings = wanted
            if not self._atexit_registered:
                atexit.register(self.stop)
                self._atexit_registered = True
            return self._session

    def connection_lost(self) -> bool:
        """Whether the running session's driver is gone (its JVM died or the context was stopped)."""
        with self._lock:
            if self._session is None or (self._settings is not None and self._settings.remote is not None):
                return False
            return not self._alive()

    def _alive(self) -> bool:
        session = self._session
        if session is None:
            return False
        if self._settings is not None and self._settings.remote is not None:
            return True  # a Connect client reconnects by itself; failures surface per query
        try:
            sc = session.sparkContext
            proc = getattr(sc._gateway, "proc", None)
            if proc is not None and proc.poll() is not None:
                return False
            return sc._jsc is not None and not sc._jsc.sc().isStopped()
        except Exception:
            return False

    def _start(self, settings: SessionSettings) -> SparkSession:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # PySpark warns about pandas versions it never uses here
                from pyspark.sql import SparkSession
        except ImportError as e:  # pragma: no cover - registry checks the import first
            raise EngineNotAvailableError(
                "engine 'spark' needs pyspark. Install it with: pip install 'unistack[spark]'"
            ) from e
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        logging.getLogger("py4j").setLevel(logging.WARNING)
        builder: Any = SparkSession.builder
        if settings.remote is not None:
            try:
                import grpc  # noqa: F401
                import pyspark.sql.connect.session  # noqa: F401
            except ImportError as e:
                raise EngineNotAvailableError(
                    f"spark.remote={settings.remote!r} needs the Spark Connect client: "
                    f"pip install 'pyspark[connect]' ({e})"
                ) from e
            builder = builder.remote(settings.remote)
        else:
            builder = builder.master(settings.master)
        for key, value in settings.conf().items():
            builder = builder.config(key, value)
        started = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                session = builder.getOrCreate()
        except Exception as e:
            raise EngineError(ENGINE, f"cannot start a Spark session for {settings.target!r}: "
                                      f"{type(e).__name__}: {first_line(e)}") from e
        if settings.remote is None:
            session.sparkContext.setLogLevel("ERROR")
        self.startup_seconds = time.perf_counter() - started
        return session

    def stop(self) -> None:
        """Stop the session if one is running (registered with ``atexit``)."""
        with self._lock:
            session, self._session, self._settings = self._session, None, None
            store("spark").clear()  # what the session cached goes with it
            if session is not None:
                with contextlib.suppress(Exception):  # the JVM may already be gone
                    session.stop()

    def forget(self) -> None:
        """Drop a session whose connection is lost, so the next query starts a new one.

        When the driver JVM died, PySpark's class-level handles still point at it; they are cleared so
        a new gateway (JVM) is launched on next use.
        """
        with self._lock:
            session, remote = self._session, self._settings is not None and self._settings.remote is not None
            self._session, self._settings = None, None
            store("spark").clear()
            if session is None:
                return
            with contextlib.suppress(Exception):
                session.stop()
            if remote:
                return
            from pyspark import SparkContext
            from pyspark.sql import SparkSession

            gateway = SparkContext._gateway
            proc = getattr(gateway, "proc", None)
            if proc is not None and proc.poll() is None:
                if _answers(gateway):
                    return  # the JVM is alive: stop() above was enough
                # Killed but not yet reaped (a loaded machine takes a moment to tear down a JVM), or hung:
                # make sure it is gone, else the next session would be built on its dead gateway.
                with contextlib.suppress(Exception):
                    proc.kill()
                    proc.wait(timeout=30)
            with SparkContext._lock:
                SparkContext._active_spark_context = None
                SparkContext._gateway = None
                SparkContext._jvm = None
            SparkSession._instantiatedSession = None
            SparkSession._activeSession = None


def _answers(gateway: Any) -> bool:
    """Whether the driver JVM behind a Py4J gateway still answers a call."""
    try:
        gateway.jvm.java.lang.System.currentTimeMillis()
        return True
    except Exception:
        return False


sessions = SessionManager()
