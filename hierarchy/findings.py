"""What validation finds: typed findings and the report that gathers them.

Each finding has a code a program can branch on, a message a steward can read, and the nodes
and edges involved, so the hub can point at them. Orphans are warnings (a parent may simply
not be loaded yet); everything else is an error that the hub must not persist.
"""

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from hierarchy.graph import Edge


class FindingCode(StrEnum):
    """What kind of problem a finding reports."""

    CYCLE = "cycle"
    MULTIPLE_PARENTS = "multiple_parents"
    ROLE_MISMATCH = "role_mismatch"
    TOO_DEEP = "too_deep"
    ORPHAN = "orphan"
    UNKNOWN_ROLE = "unknown_role"
    UNKNOWN_RELATION = "unknown_relation"
    UNKNOWN_NODE = "unknown_node"
    DUPLICATE_EDGE = "duplicate_edge"


class Severity(StrEnum):
    """Whether a finding blocks a change (error) or only asks for attention (warning)."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem, with the nodes (and edges) involved.

    >>> finding = Finding(FindingCode.ORPHAN, "ship_to ST-1 has no bill_to parent", ("ST-1",))
    >>> finding.severity
    <Severity.WARNING: 'warning'>
    """

    code: FindingCode
    message: str
    nodes: tuple[str, ...]
    edges: tuple[Edge, ...] = ()

    @property
    def severity(self) -> Severity:
        """Orphans are warnings, every other finding is an error.

        >>> Finding(FindingCode.CYCLE, "a -> a", ("a",)).severity
        <Severity.ERROR: 'error'>
        """
        return Severity.WARNING if self.code is FindingCode.ORPHAN else Severity.ERROR

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """Every finding about one hierarchy, errors and warnings together, in a stable order.

    >>> report = ValidationReport((Finding(FindingCode.ORPHAN, "ST-1 has no parent", ("ST-1",)),))
    >>> report.ok, len(report.warnings), report.counts()
    (True, 1, {'orphan': 1})
    """

    findings: tuple[Finding, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The findings that make the hierarchy invalid.

        >>> ValidationReport(()).errors
        ()
        """
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """The findings that only ask for attention (orphans).

        >>> ValidationReport(()).warnings
        ()
        """
        return tuple(f for f in self.findings if f.severity is Severity.WARNING)

    @property
    def ok(self) -> bool:
        """True when there is no error; warnings do not count.

        >>> ValidationReport(()).ok
        True
        """
        return not self.errors

    def counts(self) -> dict[str, int]:
        """How many findings of each code, for logs and metrics.

        >>> ValidationReport((Finding(FindingCode.CYCLE, "a -> a", ("a",)),)).counts()
        {'cycle': 1}
        """
        return dict(Counter(str(f.code) for f in self.findings))
