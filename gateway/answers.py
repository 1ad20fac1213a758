"""The first answer to each MessageSid, so retries get it again byte for byte without a
database round trip; concurrent copies of one message wait for the first to finish."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Final

# Twilio retries within minutes; an older copy is answered from the database (its unique
# MessageSid), so a small cache is enough and keeps memory flat.
MAX_ANSWERS: Final = 20_000


class AnswerCache:
    def __init__(self, capacity: int = MAX_ANSWERS) -> None:
        self._capacity = capacity
        self._answers: OrderedDict[str, str] = OrderedDict()
        self._in_flight: dict[str, asyncio.Future[str]] = {}

    def get(self, sid: str) -> str | None:
        return self._answers.get(sid)

    def remember(self, sid: str, answer: str) -> None:
        self._answers[sid] = answer
        if len(self._answers) > self._capacity:
            self._answers.popitem(last=False)

    async def once(self, sid: str, produce: Callable[[], Awaitable[str]]) -> str:
        """The cached answer, the answer of a copy being handled now, or a new one."""
        cached = self._answers.get(sid)
        if cached is not None:
            return cached
        running = self._in_flight.get(sid)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._in_flight[sid] = future
        try:
            answer = await produce()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            # Nobody else may be waiting: mark the exception retrieved.
            future.exception()
            raise
        else:
            future.set_result(answer)
            self.remember(sid, answer)
            return answer
        finally:
            del self._in_flight[sid]
