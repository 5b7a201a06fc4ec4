"""What can go wrong for a host of zombiewatch, as plain exceptions.

The embedding API (:class:`~zombiewatch.app.library.ZombieWatch`) speaks plain
Python to its host: a condition the host may want to handle raises a subclass of
:class:`ZombieWatchError`, so ``except ZombieWatchError`` catches them all::

    ZombieWatchError
    ├── StartFailedError    a part could not be built or started; what had started was stopped
    ├── NotStartedError     a publishing helper was called before start() or after stop()
    └── PublishFailedError  a helper's commands are not known to be committed (.kind, .error)

Invalid input is a programming error of the caller and raises ``ValueError``
subclasses instead (``DoctrineError``, ``ManifestError``, ``NaiveDatetimeError``).
"""

from __future__ import annotations

from zombiewatch.domain.ports import BrokerErrorKind, PublishError


class ZombieWatchError(Exception):
    """The base of every error zombiewatch raises to its host at run time."""


class StartFailedError(ZombieWatchError):
    """A part could not start (a port in use, ...); the parts already started were stopped."""

    def __init__(self, component: str, message: str) -> None:
        super().__init__(f"{component}: {message}")
        self.component = component
        self.message = message


class NotStartedError(ZombieWatchError):
    """A publishing helper was called while zombiewatch is not started."""


class PublishFailedError(ZombieWatchError):
    """The commands are not known to be committed (retry: same commands, same effect).

    ``kind`` says why: ``UNAVAILABLE`` or ``UNAUTHENTICATED`` (try later),
    ``FENCED`` (another instance holds the transactional id), ``UNAUTHORIZED`` (an
    ACL is missing: the message names it), ``REJECTED`` (the broker refused the
    records).
    """

    def __init__(self, error: PublishError) -> None:
        super().__init__(f"{error.kind.value}: {error.message}")
        self.error = error

    @property
    def kind(self) -> BrokerErrorKind:
        return self.error.kind
