"""A small demo data set: an admin, a marketer, contacts at two companies, a draft campaign."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from drumbeat.platform.campaigns import ActionInput, create_campaign
from drumbeat.platform.runtime import Platform
from drumbeat.platform.tables import Campaign, Company, Contact, Role
from drumbeat.platform.team import create_member, find_member, issue_token, now

ADMIN_EMAIL = "admin@drumbeat.example"
FIRST_NAMES = ["Ana", "Marko", "Giulia", "Lucía", "Piotr", "Jelena", "Tomás", "Ivana", "Sofia",
               "Luka", "Marta", "Nikola", "Elena", "Pablo", "Zofia", "Dario", "Irena", "Carmen",
               "Filip", "Maja"]
DEMO_CAMPAIGN = "Spring newsletter (demo)"


def _ascii(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()


@dataclass(frozen=True)
class DemoResult:
    email: str
    token: str
    contacts: int
    campaign: str


async def load_demo(platform: Platform) -> DemoResult:
    admin = await find_member(ADMIN_EMAIL) or await create_member(ADMIN_EMAIL, "Demo Admin", Role.ADMIN)
    if await find_member("marketer@drumbeat.example") is None:
        await create_member("marketer@drumbeat.example", "Demo Marketer", Role.MARKETER)
    if not await Contact.exists().where(Contact.email.like("%@demo.example")):
        stamp = now()
        companies = await Company.insert(
            Company(name="Adriatic Foods", email="office@adriatic.demo.example", created_at=stamp),
            Company(name="Tramontana Srl", email="info@tramontana.demo.example", created_at=stamp),
        ).returning(Company.id)
        await Contact.insert(*(
            Contact(first_name=first, last_name="Demo", email=f"{_ascii(first)}@demo.example",
                    company=companies[i % 2]["id"], owner=admin.id, created_at=stamp)
            for i, first in enumerate(FIRST_NAMES)
        ))
    if not await Campaign.exists().where(Campaign.name == DEMO_CAMPAIGN):
        await create_campaign(platform, admin, DEMO_CAMPAIGN, ActionInput(type="email", config={
            "subject": "Spring news for {{ contact.first_name }}",
            "text": "Hello {{ contact.first_name }},\n\nour spring offers are here.\n\n"
                    "— {{ sender.name }}, {{ campaign.name }}",
        }), description="Launch it from GraphiQL: campaignRecipientsAdd, campaignTransition to "
                   "IN_PREPARATION then READY, then campaignLaunch.")
    count = await Contact.count().where(Contact.email.like("%@demo.example"))
    return DemoResult(email=ADMIN_EMAIL, token=await issue_token(admin, "demo"),
                      contacts=count, campaign=DEMO_CAMPAIGN)
