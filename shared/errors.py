"""The project's exception hierarchy: every error we raise derives from `CrisiswatchError`."""


class CrisiswatchError(Exception):
    """Root of all crisiswatch errors."""


class ConfigError(CrisiswatchError):
    """Settings or configuration files are invalid or contradictory."""


class InfraError(CrisiswatchError):
    """Local infrastructure (Kafka, PostgreSQL) could not be installed, started or reached."""


class BrokerUnavailable(CrisiswatchError):
    """Kafka cannot accept or deliver messages right now; the caller should retry later."""


class InvalidRecord(CrisiswatchError):
    """A record cannot be decoded or validated; it belongs in the dead-letter topic."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotFound(CrisiswatchError):
    """The addressed resource does not exist (HTTP 404 at the API's edge)."""


class Conflict(CrisiswatchError):
    """The request contradicts the resource's current state (HTTP 409)."""


class BadInput(CrisiswatchError):
    """A request is well-formed but its values are unusable (HTTP 422)."""
