"""Budget, costs, objectives and performance of a campaign in the API.

Skeleton: filled in by the budget work of issue 3. ``CampaignMoneyFields`` is mixed into
the ``Campaign`` type; ``BudgetMutations`` is merged into ``Mutation``.
"""

from __future__ import annotations

import strawberry


@strawberry.type
class CampaignMoneyFields:
    """Fields of ``Campaign`` about money and results (``self`` is a ``Campaign``)."""


@strawberry.type
class BudgetMutations:
    pass
