"""Probe agents for tests: an Agent running on its own event loop in a thread."""

from __future__ import annotations

import asyncio
import threading

from downradar.probes.agent import Agent


class AgentThread:
    """An Agent running on its own event loop in a thread."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._ready.set()
        try:
            await self.agent.run()
        except asyncio.CancelledError:
            pass
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> AgentThread:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._task.cancel)  # type: ignore[union-attr]
        self._thread.join(15)
