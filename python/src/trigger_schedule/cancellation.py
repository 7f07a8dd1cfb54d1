"""Cancellation by SIGINT/SIGTERM: an event and the signal that set it, apart from time."""

from __future__ import annotations

import threading

from trigger_schedule.errors import Interrupted


class Cancellation:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum = 0  # the first signal received, 0 while none has
        self._listeners: list[threading.Event] = []  # set too, so a waiter asleep on its own event wakes

    def cancel(self, signum: int) -> None:
        if not self.signum:
            self.signum = signum
        self.event.set()
        for listener in list(self._listeners):
            listener.set()

    def listen(self, event: threading.Event) -> None:
        self._listeners.append(event)
        if self.event.is_set():
            event.set()

    def unlisten(self, event: threading.Event) -> None:
        if event in self._listeners:
            self._listeners.remove(event)

    def is_set(self) -> bool:
        return self.event.is_set()

    def interrupted(self) -> Interrupted:
        return Interrupted(self.signum or 15)

    def raise_if_set(self) -> None:
        if self.event.is_set():
            raise self.interrupted()
