"""The supervisor: one owner for every background loop a server runs, started and stopped the same way.

A loop is anything with a `name` and a `run()` coroutine that runs until cancelled (`Loop`); one that can
finish its work in flight also has `stop()`, which asks it to return soon (`GracefulLoop`). The supervisor
runs each in a task of its own. A loop that raises (at once or after hours) is logged with its traceback
and restarted after an exponential backoff (capped), and meanwhile shows as failing in `states()`: what
/healthz and /metrics report. A loop that returns by itself while the server runs is restarted the same way.

`stop()` never raises: it asks every graceful loop to stop and gives it `stop_timeout` seconds to return,
then cancels whatever still runs, in the reverse order of the loops (the writer, listed first, stops last,
after everything that submits to it). The caller's teardown runs after it whatever the loops did.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

log = logging.getLogger("downradar.supervisor")
STOP_TIMEOUT_SECONDS = 10.0

# A loop's state as reported: running; backing off before its restart after a failure; stopped.
RUNNING = "running"
FAILED = "failed"
STOPPED = "stopped"


@runtime_checkable
class Loop(Protocol):
    """A background loop: `run()` works until cancelled. An optional `stop()` (and `stop_timeout`,
    seconds) asks it to finish its work in flight and return: see `GracefulLoop`."""

    name: str

    def run(self) -> Awaitable[None]: ...


@runtime_checkable
class GracefulLoop(Loop, Protocol):
    """A loop that can finish its work in flight: after `stop()`, `run()` returns on its own, soon."""

    stop_timeout: float

    def stop(self) -> None: ...


@dataclass
class TaskLoop:
    """A loop made of a coroutine function (and, for a graceful one, a stop function)."""

    name: str
    body: Callable[[], Awaitable[None]]
    stop: Callable[[], None] | None = None  # None: the loop is cancelled at shutdown
    stop_timeout: float = STOP_TIMEOUT_SECONDS

    def run(self) -> Awaitable[None]:
        return self.body()


def _graceful_stop(loop: Loop) -> tuple[Callable[[], None], float] | None:
    """The loop's stop function and how long it may take, when it has one."""
    stop = getattr(loop, "stop", None)
    if not callable(stop):
        return None
    return stop, float(getattr(loop, "stop_timeout", STOP_TIMEOUT_SECONDS))


@dataclass(frozen=True)
class Backoff:
    """The wait before the n-th restart in a row: base·2ⁿ⁻¹ seconds, at most `cap`."""

    base_seconds: float = 1.0
    cap_seconds: float = 60.0

    def delay(self, failures: int) -> float:
        return min(self.cap_seconds, self.base_seconds * 2.0 ** max(failures - 1, 0))


@dataclass
class LoopState:
    """What /healthz and /metrics say of one loop."""

    name: str
    state: str = RUNNING
    restarts: int = 0  # times it was started again after a failure
    failures_in_a_row: int = 0
    last_error: str | None = None  # "ExceptionType: message" of the last failure

    @property
    def up(self) -> bool:
        return self.state == RUNNING and self.failures_in_a_row == 0


# Once a restarted loop has run this long without failing, it is counted healthy again.
HEALTHY_AFTER_SECONDS = 30.0


@dataclass
class Supervisor:
    """Runs `loops`, restarts the ones that fail, stops them all; see the module docstring."""

    loops: Sequence[Loop]
    backoff: Backoff = field(default_factory=Backoff)
    healthy_after: float = HEALTHY_AFTER_SECONDS
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict, init=False)
    _states: dict[str, LoopState] = field(default_factory=dict, init=False)
    _stopping: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        names = [loop.name for loop in self.loops]
        if len(set(names)) != len(names):
            raise ValueError(f"loop names must be unique: {names}")
        self._states = {name: LoopState(name) for name in names}

    def start(self) -> None:
        for loop in self.loops:
            self._tasks[loop.name] = asyncio.create_task(self._keep(loop), name=f"downradar-{loop.name}")

    def states(self) -> list[LoopState]:
        return [self._states[loop.name] for loop in self.loops]

    @property
    def degraded(self) -> list[str]:
        """The names of the loops that failed and have not run healthily since."""
        return [state.name for state in self.states() if not state.up and state.state != STOPPED]

    async def _keep(self, loop: Loop) -> None:
        state = self._states[loop.name]
        loop_time = asyncio.get_running_loop().time
        while not self._stopping:
            state.state = RUNNING
            started = loop_time()
            try:
                await loop.run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._stopping:
                    log.exception("loop %s failed while stopping", loop.name)
                    break
                log.exception("loop %s failed; restarting it", loop.name)
                state.last_error = "".join(traceback.format_exception_only(exc)).strip()
            else:
                if self._stopping:
                    break
                log.error("loop %s returned while the server runs; restarting it", loop.name)
                state.last_error = "returned"
            if loop_time() - started >= self.healthy_after:
                state.failures_in_a_row = 0  # it had recovered: this is a new failure, not the same one
            state.failures_in_a_row += 1
            state.state = FAILED
            # Real time, not the app's Clock: pacing the restarts of a crashing loop protects real resources,
            # and a test's FakeClock or the demo's fast one must not stall or hurry them.
            await asyncio.sleep(self.backoff.delay(state.failures_in_a_row))
            state.restarts += 1
            asyncio.get_running_loop().call_later(self.healthy_after, _recovered, state, state.restarts)
        state.state = STOPPED

    async def stop(self) -> None:
        """Stop every loop (gracefully where it can, within its time), newest first; never raises."""
        self._stopping = True
        for loop in reversed(self.loops):
            task = self._tasks.pop(loop.name, None)
            if task is None:
                continue
            graceful = _graceful_stop(loop)
            if graceful is not None and self._states[loop.name].state == RUNNING:
                stop, timeout = graceful
                try:
                    stop()
                    await asyncio.wait_for(asyncio.shield(task), timeout=timeout)
                except TimeoutError:
                    log.warning("loop %s did not stop within %g s; cancelling it", loop.name, timeout)
                except Exception:
                    log.exception("loop %s failed while stopping", loop.name)
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            self._states[loop.name].state = STOPPED


def _recovered(state: LoopState, restarts: int) -> None:
    """Called `healthy_after` seconds after a restart: still running since, so no longer degraded."""
    if state.restarts == restarts and state.state == RUNNING:
        state.failures_in_a_row = 0
