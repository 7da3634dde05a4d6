"""Templates in the API.

Skeleton: filled in by the template work of issue 3. ``CampaignTemplateFields`` is mixed
into the ``Campaign`` type; ``TemplateQueries`` / ``TemplateMutations`` are merged into
``Query`` / ``Mutation``.
"""

from __future__ import annotations

import strawberry


@strawberry.type
class CampaignTemplateFields:
    """Fields of ``Campaign`` about its template (``self`` is a ``Campaign``)."""


@strawberry.type
class TemplateQueries:
    pass


@strawberry.type
class TemplateMutations:
    pass
